"""`cartriage spend`: what the ledger recorded, by month, repository, PR, strategy and model,
what is left of the monthly and per-PR budgets, and with `--pr KEY` the history of one PR."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

from cartriage.commands import common
from cartriage.errors import UsageError


def run(*, repo, config, fmt, pr) -> int:
    from cartriage.ledger import Scope, identity, open_ledger
    from cartriage.ledger.session import caps
    from cartriage.ledger.sql import month_of

    common.check_format(fmt, ("text", "json"), "spend")
    settings = common.load_config(repo, config)
    root = _repo_root(repo)
    configured = settings.get("ledger", "url")
    url = identity.ledger_url(configured, root, os.environ)
    if not configured and not Path(url).is_file():
        raise UsageError(f"no ledger at {url}: set [ledger] url, or review with --pr KEY or a "
                         "[budget] per-PR or monthly cap to start one")
    repository = identity.repository_name(settings.get("ledger", "repository"), root, os.environ)
    limits = caps(settings)
    ledger = open_ledger(url)
    try:
        month = month_of(time.time())
        monthly = ledger.totals(month=month)
        report = {
            "ledger": ledger.url, "month": month,
            "budgets": _budgets(monthly, limits.monthly_tokens, limits.monthly_usd),
            "spend": [asdict(row) for row in (ledger.spend() if pr is None
                                              else ledger.spend(repository, pr))],
        }
        if pr is not None:
            totals = ledger.totals(Scope(repository, pr, ""))
            report["pr"] = {"repository": repository, "pr": pr,
                            "budgets": _budgets(totals, limits.per_pr_tokens, limits.per_pr_usd),
                            "runs": [asdict(run) for run in ledger.runs(repository, pr)]}
    finally:
        ledger.close()
    print(json.dumps(report, indent=2) if fmt == "json" else _text(report))
    return 0


def _budgets(totals, cap_tokens: int | None, cap_usd: float | None) -> dict:
    """Spent, held and left on each axis (left is None without a cap)."""
    spent, held = totals.spent, totals.reserved
    return {
        "tokens": {"spent": spent.tokens, "reserved": held.tokens, "cap": cap_tokens,
                   "left": None if cap_tokens is None
                   else max(0, cap_tokens - spent.tokens - held.tokens)},
        "usd": {"spent": round(spent.usd, 6), "reserved": round(held.usd, 6), "cap": cap_usd,
                "left": None if cap_usd is None
                else round(max(0.0, cap_usd - spent.usd - held.usd), 6)},
    }


def _text(report: dict) -> str:
    lines = [f"ledger: {report['ledger']}",
             f"{report['month']}: {_budget_line(report['budgets'])}"]
    if "pr" in report:
        info = report["pr"]
        lines.append(f"PR {info['repository']}#{info['pr']}: {_budget_line(info['budgets'])}")
        lines.append("")
        lines.append(f"{'run':<10} {'when (UTC)':<17} {'reviewed':>8} {'reused':>6} "
                     f"{'tokens now':>10} {'usd now':>9} {'reused tokens':>13}")
        for run in info["runs"]:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(run["at"]))
            lines.append(f"{run['run_id'][:8]:<10} {when:<17} {run['reviewed']:>8} "
                         f"{run['reused']:>6} {run['tokens']:>10,} {run['usd']:>9.4f} "
                         f"{run['reused_tokens']:>13,}")
        if not info["runs"]:
            lines.append("(no runs recorded)")
    lines.append("")
    header = ("month", "repository", "pr", "strategy", "model", "calls", "tokens", "usd")
    rows = [(r["month"], r["repository"], r["pr"] or "-", r["strategy"] or "-", r["model"] or "-",
             f"{r['calls']:,}", f"{r['tokens']:,}", f"{r['usd']:.4f}") for r in report["spend"]]
    if not rows:
        lines.append("no spend recorded")
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        cells = zip(row, widths, strict=True)
        lines.append("  ".join(str(cell).ljust(w) if i < 5 else str(cell).rjust(w)
                               for i, (cell, w) in enumerate(cells)).rstrip())
    return "\n".join(lines)


def _budget_line(budgets: dict) -> str:
    tokens, usd = budgets["tokens"], budgets["usd"]
    text = f"{tokens['spent']:,} tokens, ${usd['spent']:.4f} spent"
    if tokens["reserved"] or usd["reserved"]:
        text += f" ({tokens['reserved']:,} tokens held by running reviews)"
    for axis, shown in (("tokens", lambda v: f"{v:,} tokens"), ("usd", lambda v: f"${v:.4f}")):
        if budgets[axis]["cap"] is not None:
            text += f"; {shown(budgets[axis]['left'])} left of {shown(budgets[axis]['cap'])}"
    return text


def _repo_root(path: Path) -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None

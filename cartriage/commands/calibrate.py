"""`cartriage calibrate`: measure what each strategy catches with the configured model."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from cartriage.commands import common
from cartriage.errors import InputError, UsageError

FORMATS = ("text", "json")


def run(*, rev, data, repo, config, budget, model, units, strategies, context, clean, seed, out,
        no_cache, fmt, output, quiet) -> int:
    from cartriage import report
    from cartriage import review as review_stage
    from cartriage import strategies as registry
    from cartriage.allocation import budget_caps
    from cartriage.calibration import FILE_NAME, measurable, measure

    common.check_format(fmt, FORMATS, "calibrate")
    if (rev is None) == (data is None):
        raise UsageError("give the changes to calibrate on: a git range (A..B, or REV for "
                         "REV..HEAD) or --data FILE.jsonl, not both")
    names = tuple(dict.fromkeys(s.strip() for s in strategies.split(",") if s.strip()))
    unknown = [n for n in names if n not in measurable()]
    if unknown or not names:
        raise UsageError(f"--strategies {strategies!r}: use one or more of "
                         f"{', '.join(measurable())}, comma-separated")
    levels = tuple(dict.fromkeys(c.strip() for c in (context or "").split(",") if c.strip()))
    wrong = [level for level in levels if level not in registry.CONTEXT_LEVELS]
    if wrong or (context is not None and not levels):
        raise UsageError(f"--context {context!r}: use one or more of "
                         f"{', '.join(registry.CONTEXT_LEVELS)}, comma-separated")
    if units < 1:
        raise UsageError(f"--units {units}: must be at least 1")
    if not 0 <= clean < 1:
        raise UsageError(f"--clean {clean}: the share of clean units must be in [0, 1)")
    settings = common.load_config(repo, config, budget=budget, **{"llm.model": model})
    variants = tuple(measure.variant(name, level) for name in names
                     for level in (levels or (settings.strategy(name)["context"],)))
    chosen = review_stage.configured_model(settings, model)
    if chosen is None:
        raise UsageError(review_stage.HOW_TO_CONFIGURE)
    tokens, usd = budget_caps(settings)
    if rev is not None:
        sources, described, root = _git_sources(repo, rev, settings, units, seed)
    else:
        sources, described, root = _record_sources(Path(data), settings, units, seed), data, repo
    cases = measure.choose_cases(sources, units, clean, seed)
    if not cases:
        raise InputError(f"{described}: no added lines where a defect can be injected (code in "
                         "a language with a tree-sitter grammar, not in [ignore])")
    progress = report.progress(total=len(cases) * len(variants), quiet=quiet,
                               budget_tokens=None if tokens is None else int(tokens),
                               budget_usd=usd)
    try:
        measured = measure.measure(sources, cases, variants, settings, model=chosen,
                                   budget_tokens=None if tokens is None else int(tokens),
                                   budget_usd=usd, use_cache=not no_cache, progress=progress)
    finally:
        progress.close()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    content = measure.calibration_data(measured, created, f"{described} (seed {seed})")
    target = out or Path(root) / FILE_NAME
    if content["strategies"]:
        try:
            target.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--out {target}: cannot write: {exc.strerror}") from None
    text = (json.dumps({**content, "cases": [_case(c) for c in cases],
                        "spent_tokens": measured.spent_tokens, "spent_usd": measured.spent_usd,
                        "resumed": measured.resumed}, indent=1)
            if fmt == "json" else render(measured, described))
    common.write(text, output)
    if not quiet:
        wrote = (f"wrote {target}: the allocator now uses these miss probabilities (see "
                 "`cartriage config`)" if content["strategies"]
                 else "nothing measured: no calibration file written")
        print(f"cartriage: {wrote}", file=sys.stderr)
    if measured.stopped:
        print(f"cartriage: calibration incomplete: {measured.stopped}; run the same command "
              "with a larger --budget to resume (finished reviews are not repeated)",
              file=sys.stderr)
        return 4
    return 0


def _git_sources(repo: Path, span: str, settings, units: int, seed: int):
    """Triage commits of the range in a seeded random order until there are enough units."""
    from cartriage import intake, pipeline
    from cartriage.calibration.measure import Source
    from cartriage.intake import git

    if ".." not in span:
        span = f"{span}..HEAD"
    root = git.open_repo(repo)
    try:
        commits = git.git(root, "rev-list", "--first-parent", span).decode().split()
    except git.GitError as exc:
        raise InputError(f"{span}: {exc}") from None
    if not commits:
        raise InputError(f"{span}: the range has no commits")
    random.Random(seed).shuffle(commits)
    sources, found = [], 0
    for sha in commits:
        change, facts, scores = pipeline.triage(intake.ChangeRequest(repo=repo, rev=f"{sha}^!"),
                                                settings)
        sources.append(Source(sha[:12], change, facts, scores))
        found += len(facts.units)
        if found >= 3 * units:  # enough to choose from: every unit cannot take an injection
            break
    return sources, span, root


def _record_sources(path: Path, settings, units: int, seed: int):
    from cartriage import analysis, scoring
    from cartriage.calibration.measure import Source
    from cartriage.scoring import records

    rows = records.read_jsonl(path)
    bad = next((error for _, record, error in rows if record is None), None)
    if bad is not None:
        raise InputError(f"--data {path}: {bad}")
    chosen = [record for _, record, _ in rows]
    random.Random(seed).shuffle(chosen)
    sources, found = [], 0
    for record in chosen:
        try:
            change = records.to_change(record, settings)
        except records.RecordError as exc:
            raise InputError(f"--data {path}: {exc}") from None
        if not change.files:
            continue
        facts = analysis.analyze(change, settings)
        sources.append(Source(records.record_id(record), change, facts,
                              scoring.score(change, facts, settings)))
        found += len(facts.units)
        if found >= 3 * units:
            break
    return sources


def _case(case) -> dict:
    shown = {"id": case.id, "unit": case.unit_id, "tier": case.tier, "kind": "clean"}
    if case.injection is not None:
        shown.update(kind=case.injection.kind, line=case.injection.line,
                     injected=case.injection.describe())
    return shown


def render(measured, described: str) -> str:
    """The report as text: one line per strategy and difficulty tier."""
    from cartriage.calibration.measure import rows

    injected = sum(c.injection is not None for c in measured.cases)
    lines = [f"calibration on {described}: {len(measured.cases)} units ({injected} with an "
             f"injected defect, {len(measured.cases) - injected} clean); model {measured.model}",
             "detection: a finding within 3 lines of the injected defect; 95% intervals (Wilson "
             "for rates, normal for means)", ""]
    header = (f"{'strategy@context':<21}{'tier':<8}{'detected':>9}{'rate':>6}  {'95% CI':<12}"
              f"{'false/clean':>12}  {'95% CI':<12}{'tokens/unit':>12}{'USD/unit':>11}"
              f"{'failed':>7}")
    lines.append(header)
    for row in rows(measured):
        rate, low, high = row.detection
        false, f_low, f_high = row.false_per_clean
        detected = f"{row.detected}/{row.injected}" if row.injected else "-"
        lines.append(
            f"{row.strategy:<21}{row.tier:<8}{detected:>9}"
            f"{(f'{rate:.0%}' if row.injected else '-'):>6}  "
            f"{(f'[{low:.0%}, {high:.0%}]' if row.injected else ''):<12}"
            f"{(f'{false:.2f}' if row.clean else '-'):>12}  "
            f"{(f'[{f_low:.2f}, {f_high:.2f}]' if row.clean else ''):<12}"
            f"{row.tokens_per_unit[0]:>12,.0f}{row.usd_per_unit[0]:>11.5f}{row.failed:>7}")
    lines += ["", f"spent {measured.spent_tokens:,} tokens (${measured.spent_usd:.4f}) in this "
              f"run; {measured.resumed} outcome(s) resumed from the log"]
    if measured.stopped:
        lines.append(f"INCOMPLETE: {measured.stopped}")
    return "\n".join(lines)

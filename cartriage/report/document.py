"""The JSON report: the whole Result as a plain, versioned document.

`SCHEMA_VERSION` changes only when a key is removed or changes meaning; new keys may be added
within a version. The keys are documented in the README ("JSON report").
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache
from typing import TYPE_CHECKING, Any

from cartriage import __version__
from cartriage.report import view

if TYPE_CHECKING:
    from cartriage.config import Config
    from cartriage.pipeline import Result
    from cartriage.scoring.scores import Consequence, Difficulty

SCHEMA_VERSION = 1


def build(result: Result, config: Config | None = None) -> dict[str, Any]:
    """The JSON report as a dict (see the README for every key)."""
    rows = view.unit_rows(result)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "cartriage", "version": __version__},
        "kind": "plan" if result.review is None else "review",
        "nothing_to_review": view.nothing_to_review(result),
        "change": change(result),
        "analysis": analysis(result),
        "scores": scores(result),
        "plan": plan(result),
        "review": review(result),
        "findings": [finding(f) for f in view.findings(result)],
        "spend": spend(result),
        "coverage": coverage(result, rows),
        "weights": dict(config.sections["weights"]) if config is not None else None,
        "messages": [view.clean(m) for m in result.messages],
    }


def change(result: Result) -> dict[str, Any]:
    c = result.change
    return {
        "source": c.source,
        "repo_root": c.repo_root,
        "old_rev": c.old_rev,
        "new_rev": c.new_rev,
        "title": c.title,
        "description": c.description,
        "issue_only": view.issue_only(result),
        "files": len(c.files),
        "hunks": view.hunk_count(result),
        "added": c.added,
        "removed": c.removed,
        "ignored": list(c.ignored),
        "file_changes": [
            {
                "path": f.path,
                "old_path": f.old_path,
                "status": f.status,
                "language": f.language,
                "binary": f.binary,
                "mode_changed": f.mode_changed,
                "submodule": f.submodule,
                "hunks": len(f.hunks),
                "added": f.added,
                "removed": f.removed,
            }
            for f in c.files
        ],
    }


def file_facts(result: Result) -> list[dict[str, Any]]:
    return [
        {
            "path": f.path,
            "language": f.language,
            "roles": [{"role": r.role, "evidence": r.evidence} for r in f.roles],
            "symbols": [_plain(s) for s in f.symbols],
            "fan_in": f.fan_in,
            "fan_in_percentile": f.fan_in_percentile,
            "importers": list(getattr(f, "importers", ())),
            "parsed": f.parsed,
            "notes": list(f.notes),
        }
        for f in result.analysis.files
    ]


def _plain(item) -> dict[str, Any]:
    """A dataclass of plain values (a symbol) as a dict: `asdict` without its deep copy of
    every value, which took 0.1 s of a range's 6,348 symbols."""
    return {name: getattr(item, name) for name in _names(type(item))}


@cache
def _names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))


def analysis(result: Result) -> dict[str, Any]:
    a = result.analysis
    return {
        "indexed_files": a.indexed_files,
        "notes": list(a.notes),
        "files": file_facts(result),
        "units": [
            {"id": u.id, "path": u.path, "hunks": list(u.hunks), "added": u.added,
             "removed": u.removed, "lines": list(u.lines) if u.lines else None,
             "skip_reason": u.skip_reason or None}
            for u in a.units
        ],
    }


def consequence(c: Consequence) -> dict[str, Any]:
    return {
        "tier": c.tier,
        "probabilities": _rounded(c.probabilities),
        "expected_weight": round(c.expected_weight, 4),
        "top_features": [{"feature": n, "contribution": round(v, 4)} for n, v in c.top_features],
        "override": c.override,
    }


def difficulty(d: Difficulty) -> dict[str, Any]:
    return {
        "tier": d.tier,
        "probabilities": _rounded(d.probabilities),
        "defect_probability": round(d.defect_probability, 4),
        "top_features": [{"feature": n, "contribution": round(v, 4)} for n, v in d.top_features],
    }


def scores(result: Result) -> dict[str, Any]:
    s = result.scores
    return {
        "model_version": s.model_version,
        "change": consequence(s.change),
        "units": [
            {"unit_id": u.unit_id, "consequence": consequence(u.consequence),
             "difficulty": difficulty(u.difficulty)}
            for u in s.units
        ],
    }


def plan(result: Result) -> dict[str, Any]:
    p = result.plan
    return {
        "policy": p.policy,
        "budget": {"tokens": p.budget_tokens, "usd": p.budget_usd},
        "total_tokens": p.total_tokens,
        "total_usd": _usd(p.total_usd),
        "expected_loss": round(p.expected_loss, 6),
        "loss_if_all_skipped": getattr(p, "loss_if_all_skipped", None),
        "unmet_minimums": list(getattr(p, "unmet_minimums", ())),
        "notes": list(p.notes),
        "details": list(p.details),
        "by_strategy": {
            name: {"units": units, "tokens": est_tokens, "usd": _usd(est_usd)}
            for name, units, est_tokens, est_usd in view.strategy_split(result)
        },
        "assignments": [
            {
                "unit_id": a.unit_id,
                "strategy": a.strategy,
                "samples": a.samples,
                "context": getattr(a, "context", "hunks"),
                "est_tokens": a.est_tokens,
                "est_usd": _usd(a.est_usd),
                "expected_loss": round(a.expected_loss, 6),
                "loss_if_skipped": round(a.loss_if_skipped, 6),
                "reason": a.reason,
                "forced_by": a.forced_by,
                "miss_probability": getattr(a, "miss_probability", None),
                "value_per_token": getattr(a, "value_per_token", None),
            }
            for a in p.assignments
        ],
    }


def review(result: Result) -> dict[str, Any] | None:
    r = result.review
    if r is None:
        return None
    return {
        "complete": r.complete and not view.incomplete(result),
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "billed_tokens": r.billed_tokens,
        "counted_tokens": r.counted_tokens,
        "reserved_tokens": r.reserved_tokens,
        "usd": _usd(r.usd),
        "redactions": r.redactions,
        "dropped_findings": r.dropped_findings,
        "reanchored_findings": r.reanchored_findings,
        # Units unchanged since an earlier run of the PR (ledger): their findings were carried
        # over, and what they cost then is not spent now (prompt/completion tokens above are).
        "reused": {"units": r.reused_units, "findings": r.reused_findings,
                   "tokens": r.reused_tokens, "usd": _usd(r.reused_usd)},
        "notes": [view.clean(n) for n in r.notes],
        "units": [
            {
                "unit_id": u.unit_id,
                "status": u.status,
                "reason": view.clean(u.reason),
                "findings": len(u.findings),
                "calls": u.calls,
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "usd": _usd(u.usd),
                "cached": u.cached,
                "reused": u.reused,
            }
            for u in r.units
        ],
    }


def finding(f) -> dict[str, Any]:
    return {
        "file": f.file,
        "line_start": f.line_start,
        "line_end": f.line_end,
        "severity": f.severity,
        "category": f.category,
        "title": view.clean(f.title),
        "explanation": view.clean(f.explanation),
        "suggestion": view.clean(f.suggestion),
        "confidence": round(f.confidence, 4),
        "unit_id": f.unit_id,
        "strategy": f.strategy,
        "support": f.support,
        "samples": f.samples,
        "reanchored": f.reanchored,
        "reused": f.reused,
    }


def spend(result: Result) -> dict[str, Any]:
    p, r = result.plan, result.review
    return {
        "budget_tokens": p.budget_tokens,
        "budget_usd": p.budget_usd,
        "planned_tokens": p.total_tokens,
        "planned_usd": _usd(p.total_usd),
        "tokens": view.spent_tokens(result),
        "usd": _usd(r.usd) if r is not None else None,
        "redactions": r.redactions if r is not None else None,
    }


def coverage(result: Result, rows: list[view.UnitRow] | None = None) -> dict[str, Any]:
    """How many units were (or, for a plan, will be) reviewed, and which were not and why."""
    rows = view.unit_rows(result) if rows is None else rows
    by_tier = {
        tier: {"units": sum(r.tier == tier for r in rows),
               "covered": sum(r.tier == tier and r.covered for r in rows)}
        for tier in ("low", "medium", "high")
    }
    return {
        "units": len(rows),
        "covered": sum(r.covered for r in rows),
        "complete": not view.incomplete(result),
        "by_tier": by_tier,
        "not_covered": [
            {"unit_id": r.unit_id, "consequence": r.tier, "status": r.status,
             "reason": view.clean(r.reason)}
            for r in view.not_covered(rows)
        ],
    }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def _usd(value: float | None) -> float | None:
    return None if value is None else round(value, 6)

"""SARIF 2.1.0 for GitHub code scanning: one rule per finding category.

Severities map to SARIF levels: critical and major -> error, minor -> warning, info -> note.
Each result carries the unit's consequence and the strategy that found it in `properties`.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cartriage import __version__
from cartriage.report import view

if TYPE_CHECKING:
    from cartriage.pipeline import Result

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/cartriage/cartriage"
LEVELS = {"critical": "error", "major": "error", "minor": "warning", "info": "note"}
# GitHub ranks security alerts by `security-severity` (a CVSS-like score) on the rule.
SECURITY_SEVERITY = {"critical": "9.0", "major": "7.0", "minor": "4.0", "info": "1.0"}


def rule_id(category: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-")
    return slug or "other"


def build(result: Result) -> dict[str, Any]:
    rows = {r.unit_id: r for r in view.unit_rows(result)}
    found = view.findings(result)
    rules: dict[str, dict[str, Any]] = {}
    for f in found:
        rid = rule_id(f.category)
        rule = rules.setdefault(rid, _rule(rid, f.category))
        if view.severity_rank(f.severity) < view.severity_rank(rule["_worst"]):
            rule["_worst"] = f.severity
    for rule in rules.values():
        worst = rule.pop("_worst")
        rule["defaultConfiguration"] = {"level": LEVELS.get(worst, "warning")}
        if rule["id"] == "security":
            rule["properties"]["security-severity"] = SECURITY_SEVERITY.get(worst, "4.0")
    index = {rid: i for i, rid in enumerate(rules)}
    results = [_result(f, index, rows.get(f.unit_id)) for f in found]
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "cartriage",
            "version": __version__,
            "informationUri": INFORMATION_URI,
            "rules": list(rules.values()),
        }},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "invocations": [_invocation(result)],
        "properties": {
            "consequence": result.scores.change.tier,
            "policy": result.plan.policy,
            "plannedTokens": result.plan.total_tokens,
            "budgetTokens": result.plan.budget_tokens,
        },
    }
    if result.change.repo_root:
        run["originalUriBaseIds"] = {"%SRCROOT%": {"uri": _dir_uri(result.change.repo_root)}}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _rule(rid: str, category: str) -> dict[str, Any]:
    words = re.split(r"[^A-Za-z0-9]+", category)
    return {
        "id": rid,
        "name": "".join(w.capitalize() for w in words if w) or "Other",
        "shortDescription": {"text": f"cartriage review finding: {view.one_line(category)}"},
        "helpUri": INFORMATION_URI,
        "properties": {"tags": ["cartriage", rid]},
        "_worst": "info",
    }


def _result(f, index: dict[str, int], row: view.UnitRow | None) -> dict[str, Any]:
    start = max(1, f.line_start)
    end = max(start, f.line_end)
    text = view.one_line(f.title)
    if f.explanation:
        text += f"\n\n{view.clean(f.explanation).strip()}"
    if f.suggestion:
        text += f"\n\nSuggestion: {view.clean(f.suggestion).strip()}"
    rid = rule_id(f.category)
    fingerprint = hashlib.sha256(
        f"{f.file}\0{rid}\0{' '.join(f.title.lower().split())}".encode()
    ).hexdigest()[:32]
    properties: dict[str, Any] = {
        "severity": f.severity,
        "category": f.category,
        "strategy": f.strategy,
        "support": f"{f.support}/{f.samples}",
        "confidence": round(f.confidence, 4),
        "unit": f.unit_id,
        "reanchored": f.reanchored,
    }
    if row is not None and row.consequence is not None:
        properties["consequence"] = row.consequence.tier
        properties["consequenceProbabilities"] = {
            k: round(v, 4) for k, v in row.consequence.probabilities.items()}
    if row is not None and row.difficulty is not None:
        properties["difficulty"] = row.difficulty.tier
    return {
        "ruleId": rid,
        "ruleIndex": index[rid],
        "level": LEVELS.get(f.severity, "warning"),
        "message": {"text": text},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": quote(f.file), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": start, "endLine": end},
        }}],
        "partialFingerprints": {"cartriageFinding/v1": fingerprint},
        "properties": properties,
    }


def _invocation(result: Result) -> dict[str, Any]:
    """Units left unreviewed, ignored files and "nothing to review" as notifications."""
    empty = view.nothing_to_review(result)
    notifications = [{"level": "note", "message": {"text": empty}}] if empty else []
    notifications += [
        {
            "level": "warning" if r.status != "skipped" else "note",
            "message": {"text": f"{r.unit_id} ({r.tier or 'unscored'} consequence) "
                                f"{r.status}: {view.one_line(r.reason)}"},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": quote(r.path), "uriBaseId": "%SRCROOT%"}}}],
        }
        for r in view.not_covered(view.unit_rows(result))
    ]
    notifications += [
        {
            "level": "note",
            "message": {"text": f"{path} ignored: matches [ignore], not reviewed"},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": quote(path), "uriBaseId": "%SRCROOT%"}}}],
        }
        for path in view.ignored_files(result)
    ]
    invocation: dict[str, Any] = {"executionSuccessful": not view.incomplete(result)}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return invocation


def _dir_uri(path: str) -> str:
    uri = "file://" + quote(path if path.startswith("/") else "/" + path)
    return uri if uri.endswith("/") else uri + "/"

"""One review run's use of the ledger: its scope and caps, the metered budget, and reuse.

The runner opens a session only when a ledger is configured (`[ledger] url`, a per-PR or
monthly cap, or `--pr`); otherwise it behaves exactly as without this package.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from cartriage.config import LEDGER_CAPS
from cartriage.errors import UsageError
from cartriage.intake.change import Hunk
from cartriage.ledger import (
    Caps,
    Ledger,
    LedgerUnavailable,
    RunRecord,
    Scope,
    UnitRecord,
    identity,
    open_ledger,
)
from cartriage.ledger.metered import MeteredBudget
from cartriage.ledger.reuse import carry_over, content_key, keep, line_texts
from cartriage.review.findings import Review, UnitReview


@dataclass(frozen=True)
class Content:
    """What identifies a unit's review across runs, and the lines its findings point at."""

    key: str
    path: str
    strategy: str
    model: str
    texts: dict[int, str]


@dataclass
class Session:
    ledger: Ledger
    scope: Scope
    caps: Caps
    ttl: float
    known: dict[tuple[str, str, str], UnitRecord] = field(default_factory=dict)
    budget: MeteredBudget | None = None
    reused: dict[str, UnitRecord] = field(default_factory=dict)  # unit id -> its earlier review
    problems: list[str] = field(default_factory=list)  # ledger errors that did not stop the run

    def metered(self, tokens: int | None, usd: float | None) -> MeteredBudget:
        self.budget = MeteredBudget(tokens, usd, self)
        return self.budget

    def reuse(self, unit_id: str, content: Content) -> UnitReview | None:
        """The unit's earlier review in this PR, findings carried over, or None."""
        if not self.scope.pr:
            return None
        record = self.known.get((content.key, content.strategy, content.model))
        if record is None:
            return None
        self.reused[unit_id] = record
        findings, dropped = carry_over(record.findings, content.texts)
        findings = [replace(f, unit_id=unit_id) for f in findings]
        return UnitReview(unit_id, "reviewed", f"reused: unchanged since run {record.run_id[:8]}",
                          tuple(findings), strategy=content.strategy, model=content.model,
                          dropped_findings=dropped, reused=True,
                          reanchored_findings=sum(f.reanchored for f in findings),
                          planned_tokens=record.tokens)

    def remember(self, unit: UnitReview, content: Content) -> None:
        """Keep a reviewed unit for later runs; not one with a failed sample or judge (its
        reason says so), which a later run should review again."""
        if not self.scope.pr or unit.status != "reviewed" or unit.reused or "failed" in unit.reason:
            return
        record = UnitRecord(content.key, content.strategy, content.model, unit.unit_id,
                            content.path, self.scope.run_id,
                            unit.prompt_tokens + unit.completion_tokens, unit.usd,
                            tuple(keep(f, content.texts) for f in unit.findings))
        try:
            self.ledger.remember_unit(self.scope, record)
        except LedgerUnavailable as exc:  # the next run reviews the unit again: note, go on
            self.problems.append(str(exc))

    def finish(self, review: Review) -> Review:
        """Record the run; add what was reused, and any spend the ledger could not take."""
        reused = [u for u in review.units if u.reused]
        reused_tokens = sum(self.reused[u.unit_id].tokens for u in reused)
        reused_usd = sum(self.reused[u.unit_id].usd for u in reused)
        if self.scope.pr:
            try:
                self.ledger.record_run(self.scope, RunRecord(
                    self.scope.run_id, sum(1 for u in review.units if u.status == "reviewed"
                                           and not u.reused), len(reused),
                    review.prompt_tokens + review.completion_tokens, review.usd, reused_tokens,
                    reused_usd))
            except LedgerUnavailable as exc:
                self.problems.append(str(exc))
        unsettled = self.budget.settle_late() if self.budget is not None else []
        notes = [*review.notes, *dict.fromkeys(self.problems + (
            self.budget.problems if self.budget is not None else []))]
        if unsettled:
            notes.append(f"{len(unsettled)} call(s) ({sum(c.amount.tokens for c in unsettled):,}"
                         " tokens) could not be recorded in the ledger")
        if reused:
            notes.append(f"{len(reused)} unchanged unit(s) reused from earlier runs of PR "
                         f"{self.scope.pr} (they cost {reused_tokens:,} tokens then; 0 now)")
        return replace(review, notes=tuple(notes), reused_units=len(reused),
                       reused_findings=sum(len(u.findings) for u in reused),
                       reused_tokens=reused_tokens, reused_usd=round(reused_usd, 10),
                       complete=review.complete and not unsettled)

    def close(self) -> None:
        self.ledger.close()


def content(path: str, status: str, hunks: tuple[Hunk, ...], strategy: str,
            model: str) -> Content:
    deleted = status == "deleted"
    return Content(content_key(path, status, hunks), path, strategy, model,
                   line_texts(hunks, deleted))


def caps(config) -> Caps:
    return Caps(**{key: config.get("budget", key) for key in LEDGER_CAPS})


def open_session(config, repo_root: str | None, pr: str | None = None,
                 env: Mapping[str, str] = os.environ) -> Session:
    """The run's ledger session (the caller checked that a ledger is configured: a URL, a cap
    or a PR); LedgerUnavailable (exit 4) when it cannot be opened."""
    limits = caps(config)
    pr = pr or identity.ci_pr(env) or ""
    if not pr and (limits.per_pr_tokens is not None or limits.per_pr_usd is not None):
        raise UsageError("[budget] per_pr_tokens/per_pr_usd need a pull request: pass --pr KEY "
                         "(or run in GitHub Actions or GitLab CI on a pull request)")
    url = identity.ledger_url(config.get("ledger", "url"), repo_root, env)
    scope = Scope(identity.repository_name(config.get("ledger", "repository"), repo_root, env),
                  pr, uuid.uuid4().hex)
    ledger = open_ledger(url)
    session = Session(ledger, scope, limits, config.get("ledger", "reservation_ttl"))
    if pr:
        session.known = ledger.reviewed_units(scope)
    return session

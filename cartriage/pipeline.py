"""The pipeline: intake -> analysis -> scoring -> allocation -> review -> report.

Each stage is a package exposing one function that consumes the previous stage's contract.
Stages are imported inside the functions so that `--help` and `--version` stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from cartriage.allocation.plan import Plan
    from cartriage.analysis.facts import Analysis
    from cartriage.config import Config
    from cartriage.intake import ChangeRequest
    from cartriage.intake.change import ChangeSet
    from cartriage.review.findings import Finding, Review
    from cartriage.scoring.scores import Scores


@dataclass
class Result:
    """Everything one run produced; `review` is None for a plan-only run."""

    change: ChangeSet
    analysis: Analysis
    scores: Scores
    plan: Plan
    review: Review | None = None
    messages: list[str] = field(default_factory=list)
    secrets: tuple[Finding, ...] = ()  # secrets in added lines: findings with or without a model


PLANS = "plans-v2.sqlite"  # results of `plan` less their change (`_stored`), by the score cache
_HEX = frozenset("0123456789abcdef")


def triage(request: ChangeRequest, config: Config) -> tuple[ChangeSet, Analysis, Scores]:
    """Read, analyse and score the change: what allocation needs, for one change or a batch."""
    from cartriage import intake

    change = intake.read_change(request, config)
    return (change, *analyse(change, config))


def triage_batch(repo: Path, span: str,
                 config: Config) -> Iterator[tuple[ChangeSet, Analysis, Scores]]:
    """`triage` of each first-parent commit of A..B, oldest first, from one `git log -p`
    stream; the fan-in index is updated from each commit's files and written once, at the end.
    """
    from cartriage import analysis, intake
    from cartriage.analysis import fanin
    from cartriage.scoring import cache

    with fanin.held(intake.repository_root(repo), span):
        changes = ((c, analysis.analyze(c, config))
                   for c in intake.first_parent_changes(repo, span, config))
        yield from cache.score_batches(changes, config)


def analyse(change: ChangeSet, config: Config) -> tuple[Analysis, Scores]:
    """Analyse and score a change already read."""
    from cartriage import analysis
    from cartriage.scoring import cache

    facts = analysis.analyze(change, config)
    return facts, cache.score(change, facts, config)


def plan(request: ChangeRequest, config: Config, *, once: bool = False) -> Result:
    """Triage and allocate: everything up to the first LLM call.

    A change between two commits is planned once per configuration, code and models: the
    result is kept in `.git/cartriage/` and served from there (see `plan_key`), so a repeated
    plan loads neither tree-sitter, numpy nor onnxruntime. `once`: nothing in this process
    scores again (a command's one plan), so the models are freed once the change is scored."""
    from cartriage import intake
    from cartriage.scoring import cache

    change = intake.read_change(request, config)
    db = cache.connect(change.repo_root, PLANS) if _between_commits(change) else None
    try:
        key = plan_key(change, config) if db is not None else ""
        found = cache.load(db, key)
        if isinstance(found, dict):
            return Result(change=change, **found)
        from cartriage import allocation
        from cartriage.analysis import fanin
        from cartriage.review import secrets

        facts, scores = analyse(change, config)
        if once:
            _free_models()
        result = Result(change=change, analysis=facts, scores=scores,
                        plan=allocation.allocate(facts, scores, config, change=change),
                        secrets=secrets.findings(change))
        fanin.forget_reads()  # context has priced the units: blobs it did not take go
        cache.save(db, key, _stored(result))
        return result
    finally:
        if db is not None:
            db.close()


def _stored(result: Result) -> dict:
    """What the plan store keeps of a result: all but its change (for a range, 90% of it),
    which a repeated plan reads anyway to find its key; the key holds the change whole, so
    the change read then is the one planned."""
    return {f.name: getattr(result, f.name) for f in fields(result) if f.name != "change"}


def _free_models() -> None:
    """Drop the scoring models loaded (sessions, weights, onnxruntime's arenas: about 100 MB
    after a range's scoring) and give the freed memory back to the system: glibc keeps freed
    heap pages, and a range's resident memory stayed at 242 MB with the models dropped (132
    trimmed). The modules are looked up, not imported: scores served from the cache load
    neither them nor numpy."""
    import ctypes
    import sys
    from contextlib import suppress

    for name in ("cartriage.scoring.model", "cartriage.scoring.encoder"):
        module = sys.modules.get(name)
        if module is not None:
            module.clear_cache()
    with suppress(AttributeError, OSError, TypeError):  # not glibc: nothing to trim
        ctypes.CDLL(None).malloc_trim(0)


def _between_commits(change: ChangeSet) -> bool:
    """Both sides are commits (or the empty tree), so the repository's state cannot move."""
    return all(rev is not None and len(rev) == 40 and set(rev) <= _HEX
               for rev in (change.old_rev, change.new_rev))


def plan_key(change: ChangeSet, config: Config) -> str:
    """A digest of everything a plan reads: the change (its commits name the tree the fan-in
    index is built from), the whole configuration, the models and cartriage's own files."""
    import hashlib
    from itertools import chain

    from cartriage.scoring import cache

    digest = hashlib.sha256()
    for part in chain((cache.models_fingerprint(), _package_fingerprint(),
                       _prices_fingerprint(config), _calibration_fingerprint(config),
                       repr(config.sections), repr(config.strategies), repr(config.rules)),
                      change.digest_parts()):
        digest.update(part.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def _package_fingerprint() -> str:
    """Version, names, sizes and modification times of cartriage's code and data files."""
    import os

    import cartriage

    top = os.path.dirname(os.path.abspath(cartriage.__file__))
    parts = [cartriage.__version__]
    for folder, subfolders, files in os.walk(top):
        subfolders[:] = sorted(d for d in subfolders if d not in ("__pycache__", "models"))
        for name in sorted(files):
            if name.endswith((".py", ".toml", ".json")):
                stat = os.stat(os.path.join(folder, name))
                parts.append(f"{folder[len(top):]}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def _calibration_fingerprint(config: Config) -> str:
    """A calibration file's content: `cartriage calibrate` rewrites it in place."""
    import hashlib

    path = config.get("calibration", "file")
    try:
        return "" if path is None else hashlib.sha256(open(path, "rb").read()).hexdigest()
    except OSError:
        return "unreadable"  # the plan itself then says why


def _prices_fingerprint(config: Config) -> str:
    """With a dollar budget, litellm's cost map prices the plan: its location and version."""
    if config.get("budget", "usd") is None:
        return ""
    from importlib import metadata

    try:
        return f"litellm {metadata.version('litellm')}"
    except metadata.PackageNotFoundError:
        return "no litellm"

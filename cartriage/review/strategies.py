"""How a strategy's calls run (the strategies themselves are `cartriage.strategies`).

- `sample`: K calls (K = 1 for single), concurrently, models taken in turn from `models`;
  findings merged by location and normalised title, each carrying its support k/K.
- `confirm`: a judge call that sees the code and the merged candidates and returns the
  confirmed ones with reasons. When the judge fails (provider error, malformed JSON after one
  repair), the merged candidates are reported unconfirmed and the unit says why.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

from cartriage.review import prompts
from cartriage.review.budget import Cost, Reservation
from cartriage.review.llm import CallError, Client, Reply, Request, price
from cartriage.review.validate import (
    Lines,
    Malformed,
    anchor,
    check_findings,
    check_judgement,
    parse_json,
)

NEAR_LINES = 3  # findings this close, with similar titles, are the same finding


@dataclass(frozen=True)
class Job:
    """One unit to review and how: everything a strategy needs."""

    unit: prompts.UnitText
    lines: Lines
    strategy: str
    models: tuple[str, ...]  # one per sample
    judge_model: str
    temperature: float
    max_tokens: int
    min_tokens: int = 256  # the least `max_tokens` may shrink to when the budget runs short

    @property
    def samples(self) -> int:
        return len(self.models)

    def sample_request(self, index: int) -> Request:
        return Request(model=self.models[index], messages=tuple(prompts.review_messages(self.unit)),
                       temperature=self.temperature, max_tokens=self.max_tokens, sample=index,
                       unit_id=self.unit.unit_id, strategy=self.strategy)

    def judge_request(self, candidates: list[dict]) -> Request:
        return Request(model=self.judge_model,
                       messages=tuple(prompts.judge_messages(self.unit, candidates)),
                       temperature=0.0, max_tokens=self.max_tokens,
                       unit_id=self.unit.unit_id, strategy=self.strategy, purpose="judge")


@dataclass
class Tally:
    """What a unit's calls cost, added to as replies arrive (from several threads)."""

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, reply: Reply) -> None:
        with self._lock:
            self.calls += 1
            self.cached += reply.cached
            self.prompt_tokens += reply.prompt_tokens
            self.completion_tokens += reply.completion_tokens
            self.usd += reply.usd


@dataclass
class Outcome:
    """Findings (dicts with the Finding fields), counts, and the samples that failed."""

    findings: list[dict]
    samples: int
    dropped: int = 0
    reanchored: int = 0
    failures: list[CallError] = field(default_factory=list)
    judge_error: str = ""  # the judge failed: the candidates are kept, unconfirmed


def sample(job: Job, client: Client, pool: Executor, reservation: Reservation,
           tally: Tally) -> Outcome:
    """Run the job's samples and merge them; CallError when no usable result came back."""
    futures = [pool.submit(_sample, job, index, client, reservation, tally)
               for index in range(job.samples)]
    results, failures = [], []
    for future in futures:
        try:
            results.append(future.result())
        except CallError as exc:
            failures.append(exc)
    if not results:
        raise _worst(failures)
    merged = merge(results, len(results))
    findings, dropped, moved = [], sum(invalid for _, invalid in results), 0
    for finding in merged:
        anchored, reanchored = anchor(finding, job.lines)
        if anchored is None:
            dropped += 1
            continue
        moved += reanchored
        findings.append({**anchored, "reanchored": reanchored})
    return Outcome(findings, len(results), dropped, moved, failures)


def confirm(job: Job, outcome: Outcome, client: Client, reservation: Reservation,
            tally: Tally) -> Outcome:
    """The judge's pass over the merged candidates; when it fails, they are kept unconfirmed."""
    try:
        outcome.findings, outcome.dropped = _judge(job, outcome.findings, client, reservation,
                                                   tally, outcome.dropped)
    except CallError as exc:  # partial results are kept: the samples' merged findings
        outcome.judge_error = str(exc)
    return outcome


def samples_worst_case(job: Job, client: Client) -> Cost:
    """What the job's samples could cost at most; cached calls cost nothing."""
    total = Cost(0, 0.0)
    for index in range(job.samples):
        request = job.sample_request(index)
        if not client.is_cached(request):
            _add(total, client.estimate(request))
    return total


def add_judge_worst_case(total: Cost, job: Job, client: Client) -> Cost:
    """`total` plus the judge's worst case: the prompt plus candidates no longer than what the
    samples wrote."""
    judge = client.estimate(job.judge_request([]))
    extra = int(job.max_tokens * job.samples * 1.2)
    judge.tokens += extra
    extra_usd = price(job.judge_model, extra, 0)
    judge.usd = None if judge.usd is None or extra_usd is None else judge.usd + extra_usd
    _add(total, judge)
    return total


def _add(total: Cost, cost: Cost) -> None:
    total.tokens += cost.tokens
    total.usd = None if total.usd is None or cost.usd is None else total.usd + cost.usd


def merge(samples: list[tuple[list[dict], int]], total: int) -> list[dict]:
    """Cluster findings from `total` samples by file, nearby lines and similar title."""
    clusters: list[list[tuple[int, dict]]] = []
    for index, (findings, _) in enumerate(samples):
        for finding in findings:
            words = title_words(finding["title"])
            for cluster in clusters:
                first = cluster[0][1]
                if first["file"] == finding["file"] and _near(first, finding) \
                        and _similar(title_words(first["title"]), words):
                    cluster.append((index, finding))
                    break
            else:
                clusters.append([(index, finding)])
    merged = []
    for cluster in clusters:
        best = max(cluster, key=lambda item: item[1]["confidence"])[1]
        by_sample: dict[int, float] = {}
        for index, finding in cluster:
            by_sample[index] = max(by_sample.get(index, 0.0), finding["confidence"])
        merged.append({**best, "support": len(by_sample), "samples": total,
                       "confidence": round(sum(by_sample.values()) / total, 3)})
    merged.sort(key=lambda f: (-f["support"], f["line_start"]))
    return merged


_STOP = {"a", "an", "the", "of", "in", "on", "to", "for", "is", "be", "and", "or", "with",
         "when", "not", "no", "may", "can", "could", "possible", "potential", "missing"}


def title_words(title: str) -> frozenset[str]:
    """A title as a set of normalised words: lowercase, no punctuation, stop words, plurals."""
    words = re.findall(r"[a-z0-9_]+", title.lower())
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") else w
                     for w in words if w not in _STOP)


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= 0.5 or a <= b or b <= a


def _near(a: dict, b: dict) -> bool:
    return a["line_start"] - NEAR_LINES <= b["line_end"] and \
        b["line_start"] - NEAR_LINES <= a["line_end"]


def _sample(job: Job, index: int, client: Client, reservation: Reservation,
            tally: Tally) -> tuple[list[dict], int]:
    """One review sample: (valid findings, invalid findings dropped)."""
    findings, errors = ask(client, job.sample_request(index), reservation, tally, check_findings)
    return findings, len(errors)


def ask(client: Client, request: Request, reservation: Reservation, tally: Tally,
        check) -> tuple[list[dict], list[str]]:
    """Call and validate; a reply that is not the expected JSON gets one repair call.

    Returns (valid items, errors of items dropped); CallError if the repair fails too.
    Invalid items inside a well-formed reply are dropped and counted, not repaired.
    """
    reply = client.complete(request, reservation)
    tally.add(reply)
    try:
        return check(parse_json(reply.text))
    except Malformed as exc:
        error = str(exc)
    repair = replace(request, messages=tuple(prompts.repair_messages(
        list(request.messages), reply.text, error)), purpose=f"{request.purpose}-repair")
    try:
        second = client.complete(repair, reservation)
    except CallError as exc:
        kind = "budget" if exc.kind == "budget" else "malformed"
        raise CallError(kind, f"malformed JSON ({error}); the repair call failed: {exc}") \
            from None
    tally.add(second)
    try:
        return check(parse_json(second.text))
    except Malformed as exc:
        raise CallError("malformed", f"malformed JSON after one repair: {exc}") from None


def _judge(job: Job, candidates: list[dict], client: Client, reservation: Reservation,
           tally: Tally, dropped: int) -> tuple[list[dict], int]:
    if not candidates:
        return [], dropped
    confirmed, errors = ask(client, job.judge_request(candidates), reservation, tally,
                            lambda data: check_judgement(data, len(candidates)))
    findings = []
    for verdict in confirmed:
        candidate = candidates[verdict["candidate"] - 1]
        findings.append({**candidate, "reason": verdict["reason"],
                         "severity": verdict.get("severity", candidate["severity"]),
                         "confidence": verdict.get("confidence", candidate["confidence"])})
    return findings, dropped + len(errors)


def _worst(failures: list[CallError]) -> CallError:
    """The failure that explains a unit: a budget stop only if every sample hit it."""
    if all(f.kind == "budget" for f in failures):
        return failures[0]
    return next(f for f in failures if f.kind != "budget")

"""Run the plan: build each unit's job, review units concurrently within the budget, collect.

Units are started in order of what a miss would cost (`loss_if_skipped`, highest first), so when
the budget runs short it is the least consequential units that go unreviewed. Each unit reserves
the worst case of its calls before the first one; a unit that cannot fit is reported as
"not reviewed: budget", never dropped silently.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cartriage import strategies
from cartriage.analysis import unit_hunks
from cartriage.config import LEDGER_CAPS
from cartriage.context import Context
from cartriage.context import build as build_context
from cartriage.errors import ConfigError, UsageError
from cartriage.review import prompts
from cartriage.review.budget import Budget, OverBudget, Reservation
from cartriage.review.findings import SEVERITIES, Finding, Review, UnitReview
from cartriage.review.llm import CallError, Client, Settings, litellm_module
from cartriage.review.redact import is_secret_file, redact
from cartriage.review.store import Cache, Log, cache_dir, log_path
from cartriage.review.strategies import Job, Tally
from cartriage.review.validate import Lines

if TYPE_CHECKING:
    from cartriage.allocation.plan import Assignment
    from cartriage.analysis.facts import Unit
    from cartriage.config import Config
    from cartriage.intake.change import Hunk
    from cartriage.ledger.session import Content, Session
    from cartriage.pipeline import Result

# progress(unit_id, done, total, spent_tokens, spent_usd): after each unit, from the main thread;
# spent_usd is None while a model without a known price is in use.
Progress = Callable[[str, int, int, int, "float | None"], None]

HOW_TO_CONFIGURE = ("no LLM configured: set [llm] model (and api_key_env) in cartriage.toml, "
                    "or pass --model, e.g. --model openai/gpt-4o-mini with OPENAI_API_KEY set")


def configured_model(config: Config, model: str | None = None) -> str | None:
    """The default model to review with, or None when no model is configured.

    A model that is configured but cannot be called (its key variable unset or empty) is a
    configuration error naming the variable, never a silent plan-only run.
    """
    name = model or config.get("llm", "model")
    for strategy in _sending():
        settings = config.strategy(strategy)
        name = name or settings.get("model") or (settings.get("models") or [None])[0]
    if not name:
        return None
    key_env = config.get("llm", "api_key_env")
    if key_env:
        if os.environ.get(key_env, "").strip():
            return name
        raise UsageError(f"model {name} is configured but ${key_env} ([llm] api_key_env) is "
                         f"{'empty' if key_env in os.environ else 'not set'}")
    if config.get("llm", "api_base"):
        return name
    # An empty variable (`OPENAI_API_KEY=`) is no key: hide such variables from the check.
    empty = {k: v for k, v in os.environ.items() if k.endswith("_KEY") and not v.strip()}
    for variable in empty:
        del os.environ[variable]
    try:
        check = litellm_module().validate_environment(name)
    except Exception:  # unknown provider: let the call itself say what is wrong
        return name
    finally:
        os.environ.update(empty)
    missing = check.get("missing_keys") or []
    if check.get("keys_in_environment") or all(k.endswith("_API_BASE") for k in missing):
        return name
    keys = [k for k in missing if not k.endswith("_API_BASE")]
    state = "empty" if all(k in empty for k in keys) else "not set"
    raise UsageError(f"model {name} is configured but {', '.join('$' + k for k in keys)} is "
                     f"{state}: set it, or set "
                     "[llm] api_key_env or api_base")


def check_models(config: Config, model: str | None = None) -> None:
    """Every model the run may call must be one litellm can route (`3.5` is not): a
    configuration error up front, rather than a failed call per unit."""
    named = [("command line" if model else config.sources.get("llm.model", "default"),
              "llm.model", model or config.get("llm", "model"))]
    for strategy in _sending():
        settings = config.strategy(strategy)
        where = config.sources.get(f"strategies.{strategy}.model", "default")
        named += [(where, f"strategies.{strategy}.{key}", name)
                  for key in ("model", "judge_model") if (name := settings.get(key))]
        named += [(config.sources.get(f"strategies.{strategy}.models", "default"),
                   f"strategies.{strategy}.models", name) for name in settings.get("models") or ()]
    litellm = litellm_module()
    for where, key, name in named:
        if not name:
            continue
        try:
            litellm.get_llm_provider(name, api_base=config.get("llm", "api_base"))
        except Exception:  # litellm raises BadRequestError with a long help text
            raise ConfigError(f"{where}: '{key}' = {name!r} is not a model litellm can call: "
                              "give provider/model, e.g. openai/gpt-4o-mini") from None


def _sends(assignment: Assignment) -> bool:
    return strategies.get(assignment.strategy).sends


def _sending() -> tuple[str, ...]:
    """The strategies that call a model."""
    return tuple(s.name for s in strategies.all_strategies() if s.sends)


@dataclass
class _Planned:
    """A unit the plan asks to review, ready to run."""

    order: int
    assignment: Assignment
    job: Job | None  # None: nothing to send (see `skip_reason`)
    skip_reason: str = ""
    redactions: int = 0
    content: Content | None = None  # the unit's identity for the ledger's incremental re-review


def run(result: Result, config: Config, *, use_cache: bool = True, model: str | None = None,
        progress: Progress | None = None, pr: str | None = None) -> Review:
    """Review every planned unit within the budget; partial results are always returned.

    With a ledger configured (see `cartriage.ledger`), spend is also kept within the per-PR and
    monthly caps, and units unchanged since an earlier run of the PR are reused, not re-paid.
    """
    default_model = configured_model(config, model)
    if default_model is None:
        raise UsageError(HOW_TO_CONFIGURE)
    check_models(config, model)
    session = _ledger_session(config, result, pr)
    try:
        return _run(result, config, use_cache, model, progress, default_model, session)
    finally:
        if session is not None:
            session.close()


def _run(result: Result, config: Config, use_cache: bool, model: str | None,
         progress: Progress | None, default_model: str, session: Session | None) -> Review:
    plan = result.plan
    context, context_redactions = redact(prompts.pr_context(
        result.change.title, result.change.description, result.change.issue))
    planned, units = [], {u.id: u for u in result.analysis.units}
    reviews: dict[str, UnitReview] = {}
    files: dict = {}  # context work shared by the units (files read and parsed once)
    for order, assignment in enumerate(plan.assignments):
        unit = units.get(assignment.unit_id)
        item = _prepare(order, assignment, unit, result, config, context, model, default_model,
                        files, with_content=session is not None)
        reused = session.reuse(assignment.unit_id, item.content) \
            if session is not None and item.content is not None else None
        if reused is not None:
            reviews[assignment.unit_id] = reused
        elif item.job is None:
            reviews[assignment.unit_id] = UnitReview(
                assignment.unit_id, "skipped", item.skip_reason, strategy=assignment.strategy,
                planned_tokens=assignment.est_tokens if _sends(assignment) else 0)
        else:
            planned.append(item)

    budget_tokens, budget_usd = plan.budget_tokens, plan.budget_usd
    if budget_tokens is None and budget_usd is None:
        budget_tokens, budget_usd = config.get("budget", "tokens"), config.get("budget", "usd")
    budget = session.metered(budget_tokens, budget_usd) if session is not None \
        else Budget(budget_tokens, budget_usd)
    settings = Settings.from_config(config)
    cache = Cache(cache_dir()) if config.get("llm", "cache") else None
    log = _open_log(config)
    client = Client(settings, budget, cache, log, read_cache=use_cache)
    planned.sort(key=lambda p: (-p.assignment.loss_if_skipped, p.order))
    done = 0
    lock = threading.Lock()
    workers = settings.max_concurrency
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="cartriage-unit") as units_pool, \
                ThreadPoolExecutor(workers * 3, thread_name_prefix="cartriage-call") as calls_pool:
            futures = {units_pool.submit(_review_unit, item, client, calls_pool): item
                       for item in planned}
            for future in as_completed(futures):
                unit_review = future.result()
                item = futures[future]
                if session is not None and item.content is not None:
                    session.remember(unit_review, item.content)
                with lock:
                    reviews[unit_review.unit_id] = unit_review
                    done += 1
                if progress is not None:
                    progress(unit_review.unit_id, done, len(planned), budget.spent.tokens,
                             None if client.unpriced else budget.spent.usd)
    finally:
        if log is not None:
            log.close()

    ordered = [reviews[a.unit_id] for a in plan.assignments if a.unit_id in reviews]
    ordered += [UnitReview(u.id, "skipped", "not in the plan") for u in result.analysis.units
                if plan.assignment(u.id) is None]
    redactions = context_redactions + sum(p.redactions for p in planned)
    review_done = _assemble(ordered, plan, budget, client, redactions, default_model)
    return session.finish(review_done) if session is not None else review_done


def _ledger_session(config: Config, result: Result, pr: str | None) -> Session | None:
    """The ledger session when one is configured (its package is loaded only then)."""
    if not (pr or config.get("ledger", "url") or any(
            config.get("budget", k) is not None for k in LEDGER_CAPS)):
        return None
    from cartriage.ledger.session import open_session

    return open_session(config, result.change.repo_root, pr)


def _prepare(order: int, assignment: Assignment, unit: Unit | None, result: Result,
             config: Config, context: str, model: str | None, default_model: str,
             files: dict, with_content: bool = False) -> _Planned:
    strategy = strategies.get(assignment.strategy)
    if not strategy.sends:
        return _Planned(order, assignment, None, assignment.reason or "skipped by the plan")
    if unit is None:
        return _Planned(order, assignment, None, "unit not found in the analysis")
    if is_secret_file(unit.path):
        return _Planned(order, assignment, None, "not sent: the file may hold secrets")
    change = next((f for f in result.change.files if f.path == unit.path), None)
    hunks = unit_hunks(change, unit)
    if change is None or change.binary or not hunks:
        return _Planned(order, assignment, None, "nothing to send (binary or no text changes)")
    deleted = change.status == "deleted"
    facts = result.analysis.facts(unit.path)
    # Everything that leaves is redacted: the diff, the path and the symbols (default values in
    # changed signatures are sent in the symbol lines).
    symbols = [_describe_symbol(s) for s in facts.symbols] if facts else []
    code = _code(result, unit, assignment.context, files)
    texts = [redact(t) for t in (prompts.render_hunks(hunks, deleted=deleted), code.text,
                                 unit.path, *symbols)]
    (diff, code_text, path, *symbols) = [t for t, _ in texts]
    redactions = sum(n for _, n in texts)
    text = prompts.UnitText(
        unit_id=unit.id, path=path, status=change.status,
        roles=facts.role_names if facts else (), symbols=tuple(symbols), diff=diff,
        context=context, code=code_text, code_level=code.level)
    settings = strategy.settings(config)  # the models the plan priced
    models = [model] if model else [m or default_model
                                    for m in strategies.sample_models(settings)]
    samples = max(1, assignment.samples)
    temperature = settings.get("temperature") or 0.0
    if samples > 1 and temperature <= 0:
        temperature = 0.7  # identical samples would be wasted calls
    job = Job(unit=text, lines=Lines(unit.path, changed_lines(hunks, deleted)),
              strategy=assignment.strategy,
              models=tuple(models[i % len(models)] for i in range(samples)),
              judge_model=model or settings["judge_model"] or default_model,
              temperature=temperature, max_tokens=settings.get("max_output_tokens") or 1500,
              min_tokens=min(settings.get("max_output_tokens") or 1500,
                             max(256, settings.get("output_tokens") or 0)))
    return _Planned(order, assignment, job, redactions=redactions,
                    content=_content(unit.path, change.status, hunks, job) if with_content
                    else None)


def _code(result: Result, unit: Unit, level: str, files: dict) -> Context:
    """The repository code around the unit at the level the plan priced (none for hunks);
    `files` is `context.build`'s cache, shared by the units of one review."""
    if level == "hunks":
        return Context("hunks")
    return build_context(result.change, result.analysis, unit, level, files=files)


def _content(path: str, status: str, hunks: tuple[Hunk, ...], job: Job) -> Content:
    """The unit's identity across runs: its changed code, strategy, model(s) and the context
    it was reviewed with (the code around the change can change while its hunks do not)."""
    from cartriage.ledger.session import content

    how = strategies.get(job.strategy).models(job)
    if job.unit.code:
        digest = hashlib.sha256(job.unit.code.encode("utf-8", "surrogatepass")).hexdigest()
        how += f"; context {job.unit.code_level} {digest[:16]}"
    return content(path, status, hunks, job.strategy, how)


def _review_unit(item: _Planned, client: Client, calls_pool: ThreadPoolExecutor) -> UnitReview:
    job, assignment = item.job, item.assignment
    assert job is not None
    planned_max = job.max_tokens
    base = {"strategy": job.strategy, "model": job.models[0],
            "planned_tokens": assignment.est_tokens, "redactions": item.redactions}
    strategy = strategies.get(job.strategy)
    tally = Tally()  # the unit pays for the probes it makes
    try:
        for model in strategy.models_to_call(job, client):
            probe = client.learn_ratio(model, unit_id=job.unit.unit_id, strategy=job.strategy)
            if probe is not None:
                tally.add(probe)
        job, reservation = _admit(job, client)
    except OverBudget as exc:
        return UnitReview(job.unit.unit_id, "not reviewed: budget", str(exc), **_spent(tally),
                          **base)
    except CallError as exc:
        status = "not reviewed: budget" if exc.kind == "budget" else "failed"
        return UnitReview(job.unit.unit_id, status, f"probe call failed: {exc}",
                          **_spent(tally), **base)
    try:
        outcome = strategy.review(job, client, calls_pool, reservation, tally)
    except CallError as exc:
        status = "not reviewed: budget" if exc.kind == "budget" else "failed"
        return UnitReview(job.unit.unit_id, status, str(exc), **_spent(tally), **base)
    finally:
        client.budget.release(reservation)
    reasons = []
    if job.max_tokens < planned_max:
        reasons.append(f"answers limited to {job.max_tokens} tokens by the budget")
    if outcome.judge_error:
        reasons.append(f"judge failed, {len(outcome.findings)} candidate(s) reported "
                       f"unconfirmed: {outcome.judge_error}")
    if outcome.failures:
        reasons.append(f"{outcome.samples} of {job.samples} samples answered; "
                       f"{len(outcome.failures)} failed: {outcome.failures[0]}")
    reason = "; ".join(reasons)
    findings = tuple(Finding(unit_id=job.unit.unit_id, strategy=job.strategy, **f)
                     for f in outcome.findings)
    return UnitReview(job.unit.unit_id, "reviewed", reason, findings, samples=outcome.samples,
                      dropped_findings=outcome.dropped, reanchored_findings=outcome.reanchored,
                      **_spent(tally), **base)


def _admit(job: Job, client: Client) -> tuple[Job, Reservation]:
    """Reserve the unit's worst case; when the budget is short, allow shorter answers first
    (a smaller `max_tokens` per call, down to `min_tokens`) rather than skip the unit."""
    shorter = (job.max_tokens * 2 // 3, job.max_tokens // 2, job.min_tokens)
    limits = list(dict.fromkeys(
        [job.max_tokens, *(m for m in shorter if job.min_tokens <= m < job.max_tokens)]))
    for limit in limits[:-1]:
        trial = replace(job, max_tokens=limit)
        try:
            return trial, _reserve(client, trial)
        except OverBudget:
            continue
    trial = replace(job, max_tokens=limits[-1])
    return trial, _reserve(client, trial)


def _reserve(client: Client, job: Job) -> Reservation:
    """Reserve the job's worst case, saying what it is for (a ledger records it)."""
    strategy = strategies.get(job.strategy)
    return client.budget.reserve(strategy.worst_case(job, client), unit_id=job.unit.unit_id,
                                 strategy=job.strategy, model=strategy.models(job))


def _spent(tally: Tally) -> dict:
    return {"calls": tally.calls, "prompt_tokens": tally.prompt_tokens,
            "completion_tokens": tally.completion_tokens, "usd": tally.usd,
            "cached": tally.calls > 0 and tally.cached == tally.calls}


def _assemble(units: list[UnitReview], plan, budget: Budget, client: Client, redactions: int,
              model: str) -> Review:
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    findings = sorted((f for u in units for f in u.findings),
                      key=lambda f: (rank.get(f.severity, 9), f.file, f.line_start))
    complete = all(u.status in ("reviewed", "skipped") for u in units)
    notes = []
    not_budget = [u for u in units if u.status == "not reviewed: budget"]
    if not_budget:
        notes.append(f"{len(not_budget)} unit(s) not reviewed: budget")
    failed = [u for u in units if u.status == "failed"]
    if failed:
        notes.append(f"{len(failed)} unit(s) failed")
    if client.cached_calls:
        notes.append(f"{client.cached_calls} call(s) answered from the cache at no cost")
    if client.unpriced:
        notes.append(f"USD unknown for {', '.join(sorted(client.unpriced))} (not in litellm's "
                     "cost map): counted as $0")
    spend = client.spend
    if spend.timed_out:
        notes.append(f"{spend.timed_out:,} tokens of timed-out calls charged at their worst case")
    if spend.unknown_usage:
        notes.append(f"{spend.unknown_usage} repl(ies) had missing, zero, negative or non-numeric "
                     "usage: charged by our own count, never below the reservation")
    if client.calls:
        notes.append(f"spend: charged {spend.charged:,} tokens (billed by the provider "
                     f"{spend.billed:,}, counted here {spend.counted:,}, reserved "
                     f"{spend.reserved:,})")
    return Review(
        units=tuple(units), findings=tuple(findings),
        prompt_tokens=spend.charged_prompt, completion_tokens=spend.charged_completion,
        billed_tokens=spend.billed, counted_tokens=spend.counted, reserved_tokens=spend.reserved,
        usd=round(sum(u.usd for u in units), 10), redactions=redactions,
        dropped_findings=sum(u.dropped_findings for u in units),
        reanchored_findings=sum(u.reanchored_findings for u in units),
        complete=complete, notes=tuple(notes),
        planned_tokens=sum(a.est_tokens for a in plan.assignments if _sends(a)),
        planned_usd=plan.total_usd, budget_tokens=budget.cap_tokens, budget_usd=budget.cap_usd,
        calls=client.calls, cached_calls=client.cached_calls, usd_known=not client.unpriced,
        model=model,
    )


def changed_lines(hunks: tuple[Hunk, ...], deleted: bool = False) -> tuple[int, ...]:
    """Lines a finding may point at: added lines, or where lines were removed (old lines for a
    deleted file)."""
    lines: set[int] = set()
    for hunk in hunks:
        if deleted:
            lines.update(n for n, _ in hunk.removed())
            continue
        added = hunk.added()
        lines.update(n for n, _ in added)
        if hunk.removed() and not added:
            lines.add(max(1, hunk.new_start))
    return tuple(sorted(lines))


def _describe_symbol(symbol) -> str:
    text = f"{symbol.kind} {symbol.name} ({symbol.change}"
    if symbol.signature_changed and symbol.old_signature and symbol.new_signature:
        text += f", signature {symbol.old_signature} -> {symbol.new_signature}"
    return text + (", public)" if symbol.public else ")")


def _open_log(config: Config) -> Log | None:
    if not config.get("llm", "log"):
        return None
    try:
        return Log(log_path())
    except Exception:  # an unwritable log must not stop a review
        return None

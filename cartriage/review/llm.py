"""LLM plumbing: one place that talks to litellm, retries, counts usage, caches and logs.

litellm is imported on the first call (it takes seconds to import). The OpenAI SDK inside it is
told not to retry (`max_retries=0`): retries on 429 and 5xx, with exponential backoff, happen
here and only here. Calls are synchronous and run on worker threads; `max_concurrency` bounds the
calls in flight.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from cartriage.review.budget import (
    Budget,
    Cost,
    OverBudget,
    Reservation,
    call_charge,
    usage_count,
)
from cartriage.review.store import Cache, Log, cache_key

MAX_BACKOFF = 30.0  # seconds; also caps a server's Retry-After
# Our token counts are multiplied by this where they stand for the provider's (tokenizers
# differ): prompt estimates, and the completion a streamed reply may run to before it is cut.
ESTIMATE_MARGIN = 1.2
# Providers that run on the user's machine: a price of $0 is real for them. For any other model
# a $0 price is a gap in litellm's map (1.106.2 lists claude-sonnet-4-20250514 at $0) and is
# treated as unknown, so a USD budget is not silently unlimited.
FREE_PROVIDERS = ("ollama/", "ollama_chat/", "lm_studio/", "hosted_vllm/", "llamafile/")
# A model on this machine (a loopback api_base, or a local provider) may take minutes per call on
# a CPU: measured with Qwen2.5-Coder-0.5B on 2 busy cores, ~15 prompt tokens/s, so a 2,000-token
# unit needs over 2 minutes before the first answer token. Unless [llm] timeout is set, such
# models get this many seconds instead of the 60 that suit hosted APIs.
LOCAL_TIMEOUT = 600.0
# A model's first call: a short prompt, representative of review prompts (code, prose), whose
# bill shows the provider's ratio to our count before any unit reserves; it is reserved at
# PROBE_BOUND tokens per byte (four times what any byte-level BPE tokenizer can count).
PROBE_PROMPT = (
    "Count from 1 to 300, numbers separated by spaces, and write nothing else.\n\n"
    "def transfer(account, amount):\n"
    "    if amount <= 0 or account.balance < amount:\n"
    "        raise ValueError(f\"cannot move {amount!r} from {account.id}\")\n"
    "    account.balance -= amount  # keep the ledger in step\n"
    "    return {'id': account.id, 'balance': account.balance}\n"
)
# The probe's answer is longer than this, so it also shows whether the provider stops at
# `max_tokens`. One that does not is sent more than cartriage reads before the stream is closed:
# its later streamed calls reserve IN_FLIGHT times the completion again for those tokens.
PROBE_MAX_TOKENS = 16
PROBE_BOUND = 4
IN_FLIGHT = 2
LOCAL_PROVIDERS = ("ollama/", "ollama_chat/", "lm_studio/", "llamafile/")
_LOOPBACK = ("//127.", "//localhost", "//[::1]", "//0.0.0.0")


@dataclass(frozen=True)
class Settings:
    """The [llm] section, resolved: where to call, with what key, how patiently."""

    api_base: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    retries: int = 2
    backoff: float = 1.0
    max_concurrency: int = 4
    stream: bool = True

    @classmethod
    def from_config(cls, config, env=os.environ) -> Settings:
        key_env = config.get("llm", "api_key_env")
        api_base = config.get("llm", "api_base")
        timeout = config.get("llm", "timeout")
        if config.sources.get("llm.timeout") == "default" and is_local(
                api_base, config.get("llm", "model")):
            timeout = LOCAL_TIMEOUT
        return cls(
            api_base=api_base,
            api_key=env.get(key_env) if key_env else None,
            timeout=timeout,
            retries=config.get("llm", "retries"),
            backoff=config.get("llm", "backoff"),
            max_concurrency=config.get("llm", "max_concurrency"),
            stream=config.get("llm", "stream"),
        )


@dataclass(frozen=True)
class Request:
    model: str
    messages: tuple[dict, ...]
    temperature: float
    max_tokens: int
    sample: int = 0
    unit_id: str = ""
    strategy: str = ""
    purpose: str = "review"


@dataclass(frozen=True)
class Reply:
    """A reply and what it cost in this run (zero when served from the cache)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    usd: float
    cached: bool = False


class CallError(Exception):
    """A call that produced no usable reply; `kind` is budget, timeout, unreadable or provider."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def is_local(api_base: str | None, model: str | None) -> bool:
    """A model served on this machine: a loopback `api_base`, or a local provider."""
    return bool(api_base and any(m in api_base for m in _LOOPBACK)) or \
        bool(model and model.startswith(LOCAL_PROVIDERS))


def litellm_module():
    """Import litellm quietly and offline (no cost-map fetch, no Hugging Face hub)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # e.g. temperature for models that only accept the default
    return litellm


def price(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for this usage from litellm's local cost map; None when the model is not priced."""
    litellm = litellm_module()
    try:
        prompt_usd, completion_usd = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    except Exception:  # litellm raises several types for unmapped models
        return None
    usd = float(prompt_usd + completion_usd)
    if usd == 0 and prompt_tokens + completion_tokens > 0 and not model.startswith(FREE_PROVIDERS):
        return None
    return usd


@dataclass
class Spend:
    """What the run's calls cost, three ways: billed (the provider's usage, where it gave one),
    counted (cartriage's own count: prompt as sent, completion as received) and reserved (the
    worst case held before each call). `charged_*` is what the budget was charged."""

    billed: int = 0
    counted: int = 0
    reserved: int = 0
    charged_prompt: int = 0
    charged_completion: int = 0
    unknown_usage: int = 0  # replies whose usage was missing, zero, negative or not a number
    timed_out: int = 0  # tokens charged at the worst case: calls timed out or unreadable

    @property
    def charged(self) -> int:
        return self.charged_prompt + self.charged_completion


class Client:
    """Calls the model within the budget; thread-safe.

    A model's first call is a probe (`learn_ratio`): a short prompt reserved at `PROBE_BOUND`
    tokens per byte, made before any unit reserves for that model. Its reply shows how the
    provider counts (prompt tokens against our count, completion against `max_tokens`), and
    every later reservation for the model is scaled by the worst ratio seen so far.
    """

    def __init__(self, settings: Settings, budget: Budget, cache: Cache | None = None,
                 log: Log | None = None, read_cache: bool = True):
        self.settings = settings
        self.budget = budget
        self.cache = cache
        self.log = log
        self.read_cache = read_cache  # False (--no-cache): ask the model, refresh the cache
        self.calls = 0
        self.cached_calls = 0
        self.unpriced: set[str] = set()
        self.spend = Spend()
        self._ratios: dict[str, tuple[float, float]] = {}  # model -> prompt, completion factor
        self._probes: dict[str, threading.Lock] = {}
        self._overrunning: set[str] = set()
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._lock = threading.Lock()
        self._litellm = litellm_module()

    def key(self, request: Request) -> str:
        return cache_key(model=request.model, api_base=self.settings.api_base,
                         messages=list(request.messages), temperature=request.temperature,
                         max_tokens=request.max_tokens, sample=request.sample)

    def is_cached(self, request: Request) -> bool:
        return self.read_cache and self.cache is not None \
            and self.cache.get(self.key(request)) is not None

    def count_prompt(self, request: Request) -> int:
        """Our count of the prompt's tokens: the tokenizer's, never below characters / 4."""
        chars = sum(len(m["content"]) for m in request.messages)
        try:
            counted = self._litellm.token_counter(model=request.model,
                                                  messages=list(request.messages))
        except Exception:
            counted = 0
        return max(counted, math.ceil(chars / 4))

    def count_text(self, model: str, text: str) -> int:
        """Our count of a completion's tokens, as received."""
        try:
            counted = self._litellm.token_counter(model=model, text=text)
        except Exception:
            counted = 0
        return max(counted, math.ceil(len(text) / 4))

    def worst_case(self, request: Request, read_limit: int | None = None) -> tuple[int, int]:
        """(prompt, completion) tokens a call may be billed, at the ratios seen so far; the
        completion from `read_limit` when the caller already took it (`_read_limit`).

        Until the model has answered once, its prompt is taken at one token per UTF-8 byte
        (+8 per message for the chat template, +16): no byte-level BPE tokenizer counts more;
        the probe itself at `PROBE_BOUND` tokens per byte. The completion is `max_tokens` (times
        what the provider was seen to send beyond it); a streamed reply is cut there.
        """
        with self._lock:
            ratios = self._ratios.get(request.model)
        prompt_factor = ratios[0] if ratios else ESTIMATE_MARGIN
        prompt = math.ceil(self.count_prompt(request) * prompt_factor) + 16
        if ratios is None:
            per_byte = PROBE_BOUND if request.purpose == "probe" else 1
            prompt = max(prompt, _bytes(request) * per_byte + 16)
        completion = self._read_limit(request) if read_limit is None else read_limit
        if self.settings.stream and self._overruns(request.model):
            completion *= 1 + IN_FLIGHT
        return prompt, completion

    def _read_limit(self, request: Request) -> int:
        """Completion tokens (our count) after which a streamed reply is cut: `max_tokens`, times
        what the provider was seen to send beyond it, with room for our count of a whole reply
        to exceed the provider's; the probe's, `PROBE_BOUND` times its `max_tokens`."""
        if request.purpose == "probe":  # its answer must arrive whole, usage included
            return request.max_tokens * PROBE_BOUND
        with self._lock:
            completion_factor = self._ratios.get(request.model, (0, 1.0))[1]
        completion = request.max_tokens * completion_factor
        if self.settings.stream:
            completion *= ESTIMATE_MARGIN
        return math.ceil(completion)

    def _overruns(self, model: str) -> bool:
        """The model was seen to stream past `max_tokens` (a reply had to be cut)."""
        with self._lock:
            return model in self._overrunning

    def estimate(self, request: Request) -> Cost:
        """Worst-case cost of a call: what must be reserved before making it."""
        prompt, completion = self.worst_case(request)
        return Cost(prompt + completion, price(request.model, prompt, completion))

    def learn_ratio(self, model: str, *, unit_id: str = "", strategy: str = "") -> Reply | None:
        """Probe `model` once, unless it has answered already, so that later calls are reserved
        at its measured ratio: the probe is a short prompt (`PROBE_PROMPT`) reserved at
        `PROBE_BOUND` tokens per byte, so only a provider billing beyond that can overshoot,
        by a few hundred tokens, on this call only. Call it while holding no reservation (it
        may wait for room); OverBudget when it cannot fit, CallError when it is not answered.
        The probe's reply (None: no probe was needed). A model called without a probe has its
        first calls reserved at one token per byte."""
        with self._lock:
            if model in self._ratios:
                return None
            probe = self._probes.setdefault(model, threading.Lock())
        with probe:
            with self._lock:
                if model in self._ratios:
                    return None
            request = Request(model, ({"role": "user", "content": PROBE_PROMPT},), 0.0,
                              PROBE_MAX_TOKENS, unit_id=unit_id, strategy=strategy,
                              purpose="probe")
            held = self.budget.reserve(self.estimate(request), unit_id=unit_id,
                                       strategy=strategy, model=model)
            try:
                return self._call(request, None, held)
            finally:
                self.budget.release(held)

    def complete(self, request: Request, reservation: Reservation) -> Reply:
        """One reply for `request`, from the cache or the model; CallError when there is none."""
        key = self.key(request)
        if self.read_cache and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                with self._lock:
                    self.cached_calls += 1
                self._log(request, hit["text"], None, 0, 0, 0.0, 0, cached=True)
                return Reply(hit["text"], 0, 0, 0.0, cached=True)
        return self._call(request, key, reservation)

    def _call(self, request: Request, key: str | None, reservation: Reservation) -> Reply:
        """reserve -> call -> settle; the reply is cached under `key` unless it is None. The
        reply is read up to the limit the reservation was made with, even if another call
        has since widened the model's ratios."""
        limit = self._read_limit(request)
        worst = self.worst_case(request, limit)
        estimate = Cost(sum(worst), price(request.model, *worst))
        try:
            call = self.budget.take(reservation, estimate)
        except OverBudget as exc:
            raise CallError("budget", f"not reviewed: budget ({exc})") from None
        with self._lock:
            self.spend.reserved += estimate.tokens
        started = time.monotonic()
        try:
            response = self._call_with_retries(request)
            text, usage, received = (self._read(response, request, limit)
                                     if self.settings.stream else self._whole(response, request))
            cut = self.settings.stream and received >= limit
        except CallError as exc:
            if exc.kind in ("timeout", "unreadable"):  # it may be billed: charge the worst case
                self._settle(request, reservation, call, worst, None, timed_out=True)
            else:  # refused, so not billed: the call's part goes back to the unit
                self.budget.settle(reservation, call, Cost(0, 0.0))
            self._log(request, None, str(exc), 0, 0, 0.0, _ms(started))
            raise
        reported = (getattr(usage, "prompt_tokens", None),
                    getattr(usage, "completion_tokens", None))
        counted = (self.count_prompt(request), received)
        prompt_tokens, completion_tokens, usd, known = self._settle(
            request, reservation, call, worst, (reported, counted))
        # Learn from what was billed or counted, never from the reservation itself.
        self._learn(request, counted[0], prompt_tokens if known else counted[0],
                    completion_tokens if known else counted[1], cut)
        if self.cache is not None and key is not None:
            self.cache.put(key, {"model": request.model, "text": text,
                                 "prompt_tokens": prompt_tokens,
                                 "completion_tokens": completion_tokens})
        self._log(request, text, None, prompt_tokens, completion_tokens, usd, _ms(started))
        return Reply(text, prompt_tokens, completion_tokens, usd)

    def _read(self, stream: Any, request: Request, limit: int) -> tuple[str, Any, int]:
        """(text, usage, own count of completion tokens) of a streamed reply.

        Reading stops, and the stream is closed, once the own count of what was received
        reaches `limit` (`_read_limit`): a provider that ignores `max_tokens`
        cannot send, and so bill, much past it. Usage is then unknown (the final usage chunk
        never came). A provider litellm cannot stream arrives as one chunk: all of it counts.
        """
        pieces: list[str] = []
        usage, received = None, 0
        try:
            for chunk in stream:
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    pieces.append(delta)
                    received += self.count_text(request.model, delta)
                    if received >= limit:  # pieces count more than the whole: count it
                        received = self.count_text(request.model, "".join(pieces))
                        if received >= limit:
                            break
            else:
                usage = _provider_usage(stream)
        except self._litellm.Timeout:
            raise CallError("timeout", f"timed out after {self.settings.timeout:g}s") from None
        except Exception as exc:
            raise CallError("unreadable", "provider reply could not be read: "
                            + _describe(exc, None, 0)) from None
        finally:
            with contextlib.suppress(Exception):  # already closed, or not a network stream
                stream.completion_stream.close()
        # Nothing, and not server-sent events: one JSON body, from an endpoint that cannot
        # stream. (An event stream with no content is a model that stopped at once, as a small
        # local model may: an empty reply, which gets the repair call.)
        if not pieces and usage is None and not _event_stream(stream):
            raise CallError("unreadable", "the provider sent no stream; set [llm] stream = false "
                            "for an endpoint that cannot stream")
        return "".join(pieces), usage, received

    def _whole(self, response: Any, request: Request) -> tuple[str, Any, int]:
        """(text, usage, own count of completion tokens) of a reply that was not streamed."""
        text = (response.choices[0].message.content or "") if response.choices else ""
        return text, getattr(response, "usage", None), self.count_text(request.model, text)

    def _settle(self, request: Request, reservation: Reservation, call: Reservation,
                worst: tuple[int, int],
                usage: tuple[tuple, tuple[int, int]] | None,
                timed_out: bool = False) -> tuple[int, int, float, bool]:
        """Charge one call (see `budget.call_charge`): (prompt, completion, usd, usage known)."""
        if usage is None:
            prompt_tokens, completion_tokens, known = *worst, False
        else:
            reported, counted = usage
            prompt_tokens, completion_tokens, known = call_charge(reported, counted, worst)
        usd = price(request.model, prompt_tokens, completion_tokens)
        self.budget.settle(reservation, call, Cost(prompt_tokens + completion_tokens, usd or 0.0))
        with self._lock:
            if usd is None:
                self.unpriced.add(request.model)
            spend = self.spend
            spend.charged_prompt += prompt_tokens
            spend.charged_completion += completion_tokens
            if timed_out:
                spend.timed_out += prompt_tokens + completion_tokens
            else:
                reported, counted = usage
                spend.counted += sum(counted)
                if known:
                    spend.billed += sum(usage_count(v) or 0 for v in reported)
                else:
                    spend.unknown_usage += 1
        return prompt_tokens, completion_tokens, usd or 0.0, known

    def _learn(self, request: Request, counted_prompt: int, prompt_tokens: int,
               completion_tokens: int, cut: bool) -> None:
        """Widen the model's later reservations to the worst ratios it has billed. A streamed
        reply that had to be `cut` marks the model as one that runs past `max_tokens` (its
        length says nothing more: reading stopped at the limit). The probe's short answer
        shows only that: by our count it may well exceed its 16 tokens."""
        model, max_tokens = request.model, request.max_tokens
        with self._lock:
            prompt_factor, completion_factor = self._ratios.get(model, (ESTIMATE_MARGIN, 1.0))
            if counted_prompt > 0:
                prompt_factor = max(prompt_factor, prompt_tokens / counted_prompt * 1.05)
            if cut:
                self._overrunning.add(model)
            elif request.purpose != "probe" and completion_tokens > max_tokens > 0:
                completion_factor = max(completion_factor, completion_tokens / max_tokens * 1.05)
            self._ratios[model] = (prompt_factor, completion_factor)

    def _call_with_retries(self, request: Request) -> Any:
        litellm = self._litellm
        options: dict[str, Any] = {"timeout": self.settings.timeout, "max_retries": 0}
        if self.settings.stream:
            options.update(stream=True, stream_options={"include_usage": True})
        if self.settings.api_base:
            options["api_base"] = self.settings.api_base
        if self.settings.api_key:
            options["api_key"] = self.settings.api_key
        elif self.settings.api_base and request.model.startswith("openai/") \
                and not os.environ.get("OPENAI_API_KEY"):
            options["api_key"] = "no-key"  # local OpenAI-compatible servers need none
        attempt = 0
        while True:
            try:
                with self._slots:
                    with self._lock:
                        self.calls += 1
                    return litellm.completion(
                        model=request.model, messages=list(request.messages),
                        temperature=request.temperature, max_tokens=request.max_tokens,
                        **options)
            except litellm.Timeout:
                raise CallError("timeout", f"timed out after {self.settings.timeout:g}s") \
                    from None
            except Exception as exc:
                if "Invalid response object" in str(exc):
                    # litellm could not read a reply that did arrive (e.g. usage that is not a
                    # number): the provider may bill it, so it is charged, and not retried.
                    raise CallError("unreadable", "provider reply could not be read: "
                                    + _describe(exc, None, attempt)) from None
                status = getattr(exc, "status_code", None)
                retryable = isinstance(status, int) and (status == 429 or status >= 500)
                if retryable and attempt < self.settings.retries:
                    time.sleep(self._delay(attempt, exc))
                    attempt += 1
                    continue
                raise CallError("provider", _describe(exc, status, attempt)) from None

    def _delay(self, attempt: int, exc: Exception) -> float:
        delay = self.settings.backoff * (2 ** attempt) * (1 + random.random() * 0.1)
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        with contextlib.suppress(TypeError, ValueError):
            delay = max(delay, float(headers.get("retry-after", 0)))
        return min(delay, MAX_BACKOFF)

    def _log(self, request: Request, text: str | None, error: str | None, prompt_tokens: int,
             completion_tokens: int, usd: float, duration_ms: int, cached: bool = False) -> None:
        if self.log is None:
            return
        with contextlib.suppress(Exception):  # the log is for inspection; it never fails a review
            self.log.write(model=request.model, api_base=self.settings.api_base,
                           unit_id=request.unit_id, strategy=request.strategy,
                           purpose=request.purpose, sample=request.sample,
                           prompt=list(request.messages), response=text, error=error,
                           prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                           usd=usd, duration_ms=duration_ms, cached=int(cached))


def _describe(exc: Exception, status: int | None, retries: int) -> str:
    message = " ".join(str(exc).split())
    for prefix in ("litellm.", "OpenAIException - ", "Error code: "):
        message = message.replace(prefix, "")
    if len(message) > 200:
        message = message[:197] + "..."
    what = f"HTTP {status}" if status else type(exc).__name__
    tail = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
    return f"provider error{tail}: {what}: {message}"


def _event_stream(stream: Any) -> bool:
    """Whether the provider answered with server-sent events (litellm keeps the headers)."""
    headers = (getattr(stream, "_hidden_params", None) or {}).get("additional_headers") or {}
    return "text/event-stream" in str(headers.get("llm_provider-content-type", ""))


def _provider_usage(stream: Any) -> Any:
    """The usage the provider itself sent in a stream, or None.

    The usage on litellm's last chunk is not it: when the provider sends none, litellm fills in
    its own estimate. The provider's usage chunks are the ones litellm keeps in `chunks`.
    """
    reported = [c.usage for c in getattr(stream, "chunks", ()) if getattr(c, "usage", None)]
    return reported[-1] if reported else None


def _bytes(request: Request) -> int:
    """UTF-8 bytes of the prompt, plus a few per message for the chat template."""
    return sum(len(m["content"].encode("utf-8", "replace")) + 8 for m in request.messages)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

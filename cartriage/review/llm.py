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

from cartriage.review.budget import Budget, Cost, OverBudget, Reservation
from cartriage.review.store import Cache, Log, cache_key

MAX_BACKOFF = 30.0  # seconds; also caps a server's Retry-After
ESTIMATE_MARGIN = 1.2  # prompt-token estimates are multiplied by this (tokenizers differ)
# Providers that run on the user's machine: a price of $0 is real for them. For any other model
# a $0 price is a gap in litellm's map (1.106.2 lists claude-sonnet-4-20250514 at $0) and is
# treated as unknown, so a USD budget is not silently unlimited.
FREE_PROVIDERS = ("ollama/", "ollama_chat/", "lm_studio/", "hosted_vllm/", "llamafile/")
# A model on this machine (a loopback api_base, or a local provider) may take minutes per call on
# a CPU: measured with Qwen2.5-Coder-0.5B on 2 busy cores, ~15 prompt tokens/s, so a 2,000-token
# unit needs over 2 minutes before the first answer token. Unless [llm] timeout is set, such
# models get this many seconds instead of the 60 that suit hosted APIs.
LOCAL_TIMEOUT = 600.0
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
    """A call that produced no usable reply; `kind` is budget, timeout or provider."""

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


class Client:
    """Calls the model within the budget; thread-safe."""

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
        self.estimated_charges = 0  # tokens charged at their estimate (timed-out calls)
        self.missing_usage = 0
        self._margin = ESTIMATE_MARGIN
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

    def estimate(self, request: Request) -> Cost:
        """Worst-case cost: prompt tokens (with a margin) plus every allowed completion token."""
        chars = sum(len(m["content"]) for m in request.messages)
        try:
            counted = self._litellm.token_counter(model=request.model,
                                                  messages=list(request.messages))
        except Exception:
            counted = 0
        prompt = math.ceil(max(counted, chars / 4) * self._margin) + 16
        return Cost(prompt + request.max_tokens,
                    price(request.model, prompt, request.max_tokens))

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
        estimate = self.estimate(request)
        try:
            self.budget.take(reservation, estimate)
        except OverBudget as exc:
            raise CallError("budget", f"not reviewed: budget ({exc})") from None
        started = time.monotonic()
        try:
            response = self._call_with_retries(request)
        except CallError as exc:
            if exc.kind == "timeout":  # the provider may still bill it: count the worst case
                self.budget.charge(reservation, estimate)
                with self._lock:
                    self.estimated_charges += estimate.tokens
            self._log(request, None, str(exc), 0, 0, 0.0, _ms(started))
            raise
        text = (response.choices[0].message.content or "") if response.choices else ""
        prompt_tokens, completion_tokens = self._usage(response, request, estimate, text)
        usd = price(request.model, prompt_tokens, completion_tokens)
        if usd is None:
            with self._lock:
                self.unpriced.add(request.model)
        self.budget.charge(reservation, Cost(prompt_tokens + completion_tokens, usd or 0.0))
        if self.cache is not None:
            self.cache.put(key, {"model": request.model, "text": text,
                                 "prompt_tokens": prompt_tokens,
                                 "completion_tokens": completion_tokens})
        self._log(request, text, None, prompt_tokens, completion_tokens, usd or 0.0, _ms(started))
        return Reply(text, prompt_tokens, completion_tokens, usd or 0.0)

    def _call_with_retries(self, request: Request) -> Any:
        litellm = self._litellm
        options: dict[str, Any] = {"timeout": self.settings.timeout, "max_retries": 0}
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

    def _usage(self, response: Any, request: Request, estimate: Cost, text: str) -> tuple[int, int]:
        usage = getattr(response, "usage", None)
        prompt = getattr(usage, "prompt_tokens", None)
        completion = getattr(usage, "completion_tokens", None)
        if not isinstance(prompt, int) or not isinstance(completion, int):
            with self._lock:
                self.missing_usage += 1
            # No usage block: count the worst case rather than guess low.
            return estimate.tokens - request.max_tokens, request.max_tokens
        with self._lock:  # the provider counts more than our estimate: widen the margin
            raw = (estimate.tokens - request.max_tokens - 16) / self._margin
            if raw > 0 and prompt * 1.05 > raw * self._margin:
                self._margin = min(4.0, prompt * 1.05 / raw)
        return prompt, completion

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


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

"""A real OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

The standard library's http.server in a thread. Answers come from a FIFO script of actions,
then from a `responder(body) -> action` function, then `{"findings": []}`. Actions:

- `Reply(content, ...)`: 200 with a `usage` block (prompt tokens = characters / 4 of all
  messages, completion tokens = characters / 4 of the content, unless given); content longer
  than `max_tokens` is cut like a real server does (finish_reason "length").
- `Status(code)`: an error status (429, 500, ...) with an OpenAI-style error body.
- `Hang(seconds)`: wait before answering (longer than the client's timeout = a timeout).

Every request body is kept in `server.requests` (with `server.count` for how many arrived), so
tests can assert what was sent and that a cached run sent nothing. A model's first call from
cartriage is a billing probe (`PROBE_PROMPT`): it is answered outside the
script and the responder, kept in `server.probes` rather than `server.requests`, and billed; it
is answered by counting to 300, as a model would (cut at `max_tokens` unless `Billing` says not).

A request with `"stream": true` is answered as server-sent events (`data: {chunk}` lines of
about four tokens each, a final usage chunk when `stream_options.include_usage` asks for one,
then `data: [DONE]`), generated at `STREAM_PACE` seconds a chunk; the server stops generating
when the client closes the connection and bills only what it sent. `streams=False` makes it
answer every request with one JSON body, as a provider that cannot stream does.

`Billing` makes the server dishonest the way real providers can be: count prompt tokens
`prompt_factor` times higher, ignore `max_tokens`, or report usage that is missing, zero,
negative or not a number. Whatever it reports, `server.billed` is what it really counted (the
spend a user would pay; `server.bills` per call), for asserting the hard cap.

    with LLMServer(latency=0.3) as server:
        server.script(Reply({"findings": []}), Status(429), Reply("not json"))
        ... model "openai/test", api_base server.url ...
"""

from __future__ import annotations

import contextlib
import json
import math
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cartriage.review.llm import PROBE_PROMPT

MODEL = "openai/test-model"
STREAM_CHUNK = 16  # characters per streamed chunk (about four tokens)
STREAM_PACE = 0.0002  # seconds to generate one chunk


@dataclass(frozen=True)
class Reply:
    content: str | dict | list
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage: bool = True
    delay: float = 0.0


@dataclass(frozen=True)
class Status:
    code: int
    message: str = "scripted error"
    retry_after: float | None = None


@dataclass(frozen=True)
class Hang:
    seconds: float


@dataclass(frozen=True)
class Billing:
    prompt_factor: float = 1.0
    honour_max_tokens: bool = True
    usage: str = "normal"  # normal, missing, zero, negative, text


USAGE_MODES = ("normal", "missing", "zero", "negative", "text")

Action = Reply | Status | Hang
Responder = Callable[[dict], "Action | str | dict"]


def finding(file: str, line: int, title: str = "Possible bug", severity: str = "major",
            line_end: int | None = None, confidence: float = 0.8, **extra: Any) -> dict:
    """One finding in the schema the review prompts ask for."""
    return {"file": file, "line_start": line, "line_end": line_end or line,
            "severity": severity, "category": extra.pop("category", "bug"), "title": title,
            "explanation": extra.pop("explanation", "Explained."),
            "suggestion": extra.pop("suggestion", "Fix it."), "confidence": confidence, **extra}


def findings(*items: dict) -> dict:
    return {"findings": list(items)}


def prompt_text(body: dict) -> str:
    """All message contents of a request, joined (for responders and assertions)."""
    return "\n".join(m.get("content") or "" for m in body.get("messages", []))


def confirm_all(text: str) -> Reply:
    """A judge's reply to the prompt `text` that confirms every candidate."""
    count = text.count('"candidate":')
    return Reply({"confirmed": [{"candidate": i, "reason": "real"} for i in range(1, count + 1)]})


class LLMServer:
    """Start with `with LLMServer() as server:` or start()/stop()."""

    def __init__(self, responder: Responder | None = None, latency: float = 0.0,
                 billing: Billing | None = None, streams: bool = True):
        self.responder = responder
        self.streams = streams
        self.latency = latency
        self.billing = billing or Billing()
        self.bills: list[int] = []  # tokens counted for each answered call, whatever it reported
        self.requests: list[dict] = []
        self.probes: list[dict] = []
        self._script: list[Action] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    @property
    def billed(self) -> int:
        with self._lock:
            return sum(self.bills)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *actions: Action) -> None:
        with self._lock:
            self._script.extend(actions)

    def start(self) -> LLMServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(400, {"error": {"message": "bad JSON request"}})
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                action = server._next(body)
                if server.latency:
                    time.sleep(server.latency)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._answer(self, body, action)

            def _send(self, code: int, payload: dict, headers: dict | None = None):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next(self, body: dict) -> Action:
        with self._lock:
            if prompt_text(body) == PROBE_PROMPT:
                self.probes.append(body)
                return Reply(" ".join(map(str, range(1, 301))))
            self.requests.append(body)
            if self._script:
                return self._script.pop(0)
        if self.responder is None:
            return Reply({"findings": []})
        action = self.responder(body)
        return action if isinstance(action, (Reply, Status, Hang)) else Reply(action)

    def _answer(self, handler, body: dict, action: Action) -> None:
        if isinstance(action, Hang):
            time.sleep(action.seconds)
            action = Reply({"findings": []})
        if isinstance(action, Status):
            headers = {} if action.retry_after is None else {"Retry-After": str(action.retry_after)}
            kind = "rate_limit_exceeded" if action.code == 429 else "server_error"
            handler._send(action.code, {"error": {"message": action.message, "type": kind,
                                                   "code": kind}}, headers)
            return
        if action.delay:
            time.sleep(action.delay)
        content = action.content if isinstance(action.content, str) else json.dumps(action.content)
        finish = "stop"
        billing = self.billing
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if billing.honour_max_tokens and limit and len(content) > limit * 4:
            content, finish = content[: limit * 4], "length"
        prompt_tokens = action.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = math.ceil(len(prompt_text(body)) / 4 * billing.prompt_factor)
        completion_tokens = action.completion_tokens
        if completion_tokens is None:
            completion_tokens = max(1, math.ceil(len(content) / 4))
        payload = {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "test-model"),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content}}],
        }
        if body.get("stream") and self.streams:
            sent = _stream(handler, payload, content, finish,
                           bool((body.get("stream_options") or {}).get("include_usage")),
                           self._usage(action, prompt_tokens, completion_tokens))
            with self._lock:  # a stream cut short is billed for what was sent
                self.bills.append(prompt_tokens + (completion_tokens if sent == content
                                                   else max(1, math.ceil(len(sent) / 4))))
            return
        with self._lock:
            self.bills.append(prompt_tokens + completion_tokens)
        usage = self._usage(action, prompt_tokens, completion_tokens)
        if usage is not None:
            payload["usage"] = usage
        handler._send(200, payload)

    def _usage(self, action: Reply, prompt_tokens: int, completion_tokens: int) -> dict | None:
        """The usage block the server reports (None: it reports none), per its `Billing`."""
        reported: dict[str, Any] = {"prompt_tokens": prompt_tokens,
                                    "completion_tokens": completion_tokens,
                                    "total_tokens": prompt_tokens + completion_tokens}
        usage = self.billing.usage
        if usage == "zero":
            reported = dict.fromkeys(reported, 0)
        elif usage == "negative":
            reported = {k: -v * 1000 for k, v in reported.items()}
        elif usage == "text":
            reported = {k: "many" for k in reported}
        return reported if action.usage and usage != "missing" else None


def _stream(handler, payload: dict, content: str, finish: str, include_usage: bool,
            usage: dict | None) -> str:
    """Send `content` as server-sent events until done or the client hangs up; what was sent."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.close_connection = True
    base = {k: payload[k] for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    sent = ""
    try:
        for start in range(0, len(content), STREAM_CHUNK):
            if _hung_up(handler.connection):
                return sent
            piece = content[start:start + STREAM_CHUNK]
            delta = {"content": piece} if start else {"role": "assistant", "content": piece}
            _event(handler, {**base, "choices": [{"index": 0, "delta": delta,
                                                  "finish_reason": None}]})
            sent += piece
            time.sleep(STREAM_PACE)
        _event(handler, {**base, "choices": [{"index": 0, "delta": {},
                                              "finish_reason": finish}]})
        if include_usage and usage is not None:
            _event(handler, {**base, "choices": [], "usage": usage})
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
    except OSError:  # the client closed the connection mid-write
        pass
    return sent


def _event(handler, chunk: dict) -> None:
    handler.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    handler.wfile.flush()


def _hung_up(connection: socket.socket) -> bool:
    """Whether the client closed its end (readable with nothing to read)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True

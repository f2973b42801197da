"""Benchmark: 20 review units against a local OpenAI-compatible server with 300 ms latency.

Target: under 2 s at `[llm] max_concurrency = 8` (litellm's import, ~2-4 s, is measured
separately: it is paid once per process). Run: `python benchmarks/bench_review.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "review")]

from llm_server import LLMServer, finding, findings, prompt_text  # noqa: E402
from review_support import config_for, patch_for, result_for  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--strategy", default="single", choices=("single", "multi", "deliberate"))
    parser.add_argument("--samples", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cartriage-bench-"))
    os.environ["CARTRIAGE_CACHE_DIR"] = str(tmp / "cache")
    os.environ["CARTRIAGE_LOG_DB"] = str(tmp / "logs.db")

    started = time.perf_counter()
    from cartriage import review
    from cartriage.review.llm import litellm_module

    litellm_module()
    import_s = time.perf_counter() - started

    patch = "".join(patch_for(f"pkg/mod{i}.py", [f"def f{i}(x):", f"    return x / {i}"])
                    for i in range(args.units))

    def responder(body):
        if "final judge" in prompt_text(body):
            return {"confirmed": [{"candidate": 1, "reason": "i can be 0"}]}
        path = prompt_text(body).split("File: ", 1)[1].split(" ", 1)[0]
        return findings(finding(path, 2, "Division by zero when i is 0"))

    with LLMServer(responder=responder, latency=args.latency) as server:
        config = config_for(server.url, tmp, max_concurrency=args.concurrency, timeout=10.0)
        # Warm-up: the first call pays for tokenizer and HTTP client set-up.
        review.run(result_for(patch_for("warm.py", ["x = 1"])), config, use_cache=False)
        before = server.count
        started = time.perf_counter()
        result = review.run(result_for(patch, args.strategy, args.samples, budget_tokens=None),
                            config, use_cache=False)
        elapsed = time.perf_counter() - started
        calls = server.count - before
        started = time.perf_counter()
        cached = review.run(result_for(patch, args.strategy, args.samples, budget_tokens=None),
                            config)
        cached_s = time.perf_counter() - started

    reviewed = sum(u.status == "reviewed" for u in result.units)
    print(f"units {args.units}, strategy {args.strategy} x{args.samples}, latency "
          f"{args.latency * 1000:.0f} ms, concurrency {args.concurrency}")
    print(f"review: {elapsed:.2f} s for {calls} calls, {reviewed}/{args.units} units reviewed, "
          f"{len(result.findings)} findings, {result.prompt_tokens + result.completion_tokens:,} "
          f"tokens")
    print(f"re-run from cache: {cached_s:.2f} s, {cached.cached_calls} cached calls, "
          f"{server.count - before - calls} HTTP requests")
    print(f"litellm import (once per process): {import_s:.2f} s")
    rounds = -(-calls // args.concurrency)
    print(f"lower bound (calls / concurrency x latency): {rounds * args.latency:.2f} s; "
          f"overhead {elapsed - rounds * args.latency:.2f} s")
    if (args.units, args.strategy, args.latency, args.concurrency) == (20, "single", 0.3, 8):
        print(f"target < 2 s: {'met' if elapsed < 2.0 else 'MISSED'}")


if __name__ == "__main__":
    main()

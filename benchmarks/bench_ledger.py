"""Benchmark: the spend ledger. (1) A PR re-run after a 2-file push to a 40-file change: calls
and tokens of the re-run without and with the ledger, against the local test server. (2) The
concurrency drill on SQLite and PostgreSQL: 20 runners x 200 rounds, one cap.

Run: `python benchmarks/bench_ledger.py` (PostgreSQL 15 binaries needed for part 2's second
backend; `--repeats N` for the timings: CPU and wall time, min/median/max).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "review"), str(ROOT / "tests" / "ledger")]

from ledger_drill import run_drill  # noqa: E402
from llm_server import LLMServer, finding, findings, prompt_text  # noqa: E402
from pg_server import PG_BIN, postgres_server  # noqa: E402
from review_support import config_for, patch_for, result_for  # noqa: E402

FILES = 40
PUSHED = 2


def change(pushed: bool) -> str:
    """A 40-file change; after the push, the first two files carry one more line."""
    patches = []
    for i in range(FILES):
        lines = [f"def handler_{i}(request):", f"    value = request.args['v{i}']",
                 f"    return int(value) / {i}"]
        if pushed and i < PUSHED:
            lines.append("    # handle the zero case")
        patches.append(patch_for(f"app/handler{i}.py", lines))
    return "".join(patches)


def responder(body):
    path = prompt_text(body).split("File: ", 1)[1].split(" ", 1)[0]
    return findings(finding(path, 3, "Division by zero"))


def review_pr(config, pushed: bool, pr: str | None):
    from cartriage import review

    description = "Add handlers" + ("\n\nfix: handle zero" if pushed else "")
    result = result_for(change(pushed), budget_tokens=None, description=description)
    return review.run(result, config, pr=pr)


def timed(run) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = run()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def spread(values: list[float]) -> str:
    return (f"min {min(values):.3f} / median {statistics.median(values):.3f} / "
            f"max {max(values):.3f} s")


def rerun(repeats: int, tmp: Path) -> None:
    with LLMServer(responder=responder) as server:
        base = config_for(server.url, tmp, max_concurrency=8, timeout=10.0)
        review_pr(base, False, None)  # warm-up: litellm import, tokenizer, HTTP client
        rows = {}
        for label, with_ledger in (("without ledger", False), ("with ledger", True)):
            walls, cpus = [], []
            for index in range(repeats):
                folder = tmp / f"{label.replace(' ', '-')}-{index}"
                os.environ["CARTRIAGE_CACHE_DIR"] = str(folder / "cache")  # response cache on
                from cartriage.config import load

                overrides = {("llm", "model"): base.get("llm", "model"),
                             ("llm", "api_base"): server.url, ("llm", "max_concurrency"): 8}
                if with_ledger:
                    overrides[("ledger", "url")] = str(folder / "ledger.db")
                config = load(cwd=tmp, env={"HOME": str(tmp)}, overrides=overrides)
                pr = "7" if with_ledger else None
                before = server.count
                first = review_pr(config, False, pr)
                first_calls = server.count - before
                before = server.count
                again, wall, cpu = timed(lambda c=config, p=pr: review_pr(c, True, p))
                walls.append(wall)
                cpus.append(cpu)
                rows[label] = (first_calls, first, server.count - before, again)
            first_calls, first, calls, again = rows[label]
            print(f"{label}: first run {first_calls} calls, "
                  f"{first.prompt_tokens + first.completion_tokens:,} tokens; re-run after a "
                  f"{PUSHED}-file push: {calls} calls, "
                  f"{again.prompt_tokens + again.completion_tokens:,} tokens, "
                  f"{again.reused_units} units reused ({again.reused_findings} findings "
                  f"carried over), {len(again.findings)} findings in the report")
            print(f"  re-run wall {spread(walls)}; CPU {spread(cpus)} ({repeats} runs)")


def drill(repeats: int, tmp: Path) -> None:
    backends = [("SQLite", lambda i: str(tmp / f"drill-{i}.db"))]
    if (PG_BIN / "initdb").exists():
        backends.append(("PostgreSQL", None))
    else:
        print(f"PostgreSQL: skipped ({PG_BIN} missing)")
    for name, make_url in backends:
        if make_url is None:
            with postgres_server() as server_url:
                _drill(name, lambda i, u=server_url: _pg_database(u, i), repeats)
        else:
            _drill(name, make_url, repeats)


def _pg_database(server_url: str, index: int) -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE drill_{index}")
    return server_url.rsplit("/", 1)[0] + f"/drill_{index}"


def _drill(name: str, make_url, repeats: int, cap: int = 1_000_000) -> None:
    from cartriage.ledger import open_ledger

    walls, cpus = [], []
    for index in range(repeats):
        url = make_url(index)
        (result, finished), wall, cpu = timed(lambda u=url: run_drill(u, cap=cap))
        walls.append(wall)
        cpus.append(cpu)
        ledger = open_ledger(url)
        totals = ledger.totals()
        ledger.close()
        print(f"{name} run {index + 1}: 20 runners x 200 rounds, cap {cap:,} tokens: "
              f"{result.reserved_rounds} reserved, {result.refused} refused; spent "
              f"{totals.spent.tokens:,} (runners settled {result.settled:,}), peak "
              f"spent+held {result.peak:,}, holds left {totals.reserved.tokens}, "
              f"finished: {finished}, errors: {len(result.errors)}")
    print(f"  {name}: wall {spread(walls)}; CPU {spread(cpus)} "
          f"({20 * 200 / statistics.median(walls):,.0f} rounds/s at the median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cartriage-bench-ledger-"))
    os.environ["CARTRIAGE_LOG_DB"] = str(tmp / "logs.db")
    rerun(args.repeats, tmp)
    drill(args.repeats, tmp)


if __name__ == "__main__":
    main()

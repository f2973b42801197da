"""Benchmark: the fuzz promises at scale: "N inputs, K failures" for diffs, configuration files
and command lines (the strategies of `tests/fuzz_inputs.py`; a failure is an internal error,
an exception that escapes, an error message of more than one line, or an input over 10 s of
CPU; the slowest input's wall time is printed too).
Run: `python benchmarks/bench_fuzz.py --diffs 20000 --configs 5000 --argvs 1000`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from fuzz_inputs import (  # noqa: E402
    CLI_ENV,
    argvs,
    check_config,
    check_diff,
    cli_folder,
    config_bytes,
    config_names,
    diffs,
    run_cli,
)
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def measure(name: str, count: int, strategy, check) -> tuple[int, int]:
    failures: Counter[str] = Counter()
    slowest, slowest_wall, runs = [0.0], [0.0], [0]
    wall, cpu = time.perf_counter(), time.process_time()

    @seed(11)
    @settings(max_examples=count, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value):
        started = time.perf_counter()
        outcome = check(value)
        slowest_wall[0] = max(slowest_wall[0], time.perf_counter() - started)
        runs[0] += 1
        slowest[0] = max(slowest[0], outcome.seconds)
        problem = outcome.problem()
        if problem:
            failures[problem.split(":")[0]] += 1

    run()
    total = sum(failures.values())
    kinds = f" {dict(failures)}" if total else ""
    print(f"{name}: {runs[0]} inputs, {total} failures{kinds}; slowest {slowest[0]:.2f} s CPU "
          f"({slowest_wall[0]:.2f} s wall); "
          f"{time.perf_counter() - wall:.1f} s wall, {time.process_time() - cpu:.1f} s CPU",
          flush=True)
    return runs[0], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diffs", type=int, default=20_000)
    parser.add_argument("--configs", type=int, default=5_000)
    parser.add_argument("--argvs", type=int, default=1_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cartriage-fuzz-"))
    os.environ.update(CLI_ENV, XDG_CONFIG_HOME=str(tmp / "xdg"),
                      CARTRIAGE_CACHE_DIR=str(tmp / "cache"))
    (tmp / "cli").mkdir()
    folder = cli_folder(tmp / "cli")
    results = [
        measure("diffs", args.diffs, diffs, check_diff),
        measure("configs", args.configs, st.tuples(config_names, config_bytes),
                lambda pair: check_config(tmp, *pair)),
        measure("command lines", args.argvs, argvs, lambda argv: run_cli(argv, folder)),
    ]
    print(f"all: {sum(n for n, _ in results)} inputs, {sum(k for _, k in results)} failures")


if __name__ == "__main__":
    main()

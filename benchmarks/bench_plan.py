"""End-to-end `cartriage plan` on a real repository: cold (fan-in index built) and warm.

Run: python benchmarks/bench_plan.py --repo PATH [--files 20]
PATH is a work tree of a real repository (the README's figures use netbox-community/netbox,
about 2,200 files). The commit changing the number of files closest to --files among the last
400 first-parent commits is planned with `cartriage plan SHA^!`. Target: under 1 s warm.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


def pick_commit(repo: Path, files: int) -> tuple[str, int]:
    best = None
    for sha in git(repo, "log", "--first-parent", "--format=%H", "-400").split():
        parents = git(repo, "rev-list", "--parents", "-n1", sha).split()
        if len(parents) < 2:
            continue
        count = len(git(repo, "diff", "--name-only", parents[1], sha).split("\n")) - 1
        if best is None or abs(count - files) < abs(best[1] - files):
            best = (sha, count)
        if count == files:
            break
    if best is None:
        raise SystemExit("no commit with a parent found")
    return best


def plan_seconds(repo: Path, sha: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cartriage", "plan", f"{sha}^!", "--format",
                           "json"], cwd=repo, capture_output=True, text=True, check=False,
                          env=ENV)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"cartriage plan failed: {done.stderr.strip()}")
    return seconds


# Measured as installed: with bytecode (pip compiles it; PYTHONDONTWRITEBYTECODE would not).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    repo = args.repo.resolve()
    import cartriage

    compileall.compile_dir(Path(cartriage.__file__).parent, quiet=1)
    sha, count = pick_commit(repo, args.files)
    tracked = len(git(repo, "ls-files").splitlines())
    shutil.rmtree(repo / ".git" / "cartriage", ignore_errors=True)
    cold = plan_seconds(repo, sha)
    warm = statistics.median(plan_seconds(repo, sha) for _ in range(args.runs))
    print(f"repository: {repo.name}, {tracked:,} files; change {sha[:9]}: {count} files")
    print(f"cartriage plan cold (fan-in index built): {cold:.2f} s")
    print(f"cartriage plan warm (median of {args.runs}): {warm:.2f} s")


if __name__ == "__main__":
    main()

"""Plans made from a parent's kept sources equal plans made from scratch, on a real repository.

    python benchmarks/check_kept_sources.py --repo PATH [--commits 5] [--every 8] [--range A..B]

For every --every-th of the last --commits x --every first-parent commits SHA: `.git/cartriage/`
removed, `plan SHA^^!` (the parent), then `plan SHA^!` (context priced from the parent's kept
sources, updated from the tree diff); then `.git/cartriage/` removed again and `plan SHA^!`
from scratch. The two JSON reports must be equal but for the fan-in note's count of files
parsed. With --range, the same for `plan A..B` after planning the first commit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def plan(repo: Path, rev: str) -> list[str]:
    """The plan's JSON report, without the lines that depend on what was cached."""
    done = subprocess.run([sys.executable, "-m", "cartriage", "plan", rev, "--format", "json"],
                          cwd=repo, env=ENV, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"plan {rev} failed ({done.returncode}): {done.stderr.strip()}")
    return [line for line in done.stdout.splitlines() if "the rest cached" not in line]


def same(repo: Path, first: str, rev: str) -> bool:
    folder = repo / ".git" / "cartriage"
    shutil.rmtree(folder, ignore_errors=True)
    plan(repo, first)
    kept = plan(repo, rev)
    shutil.rmtree(folder, ignore_errors=True)
    return kept == plan(repo, rev)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--commits", type=int, default=5)
    parser.add_argument("--every", type=int, default=8)
    parser.add_argument("--range")
    args = parser.parse_args()
    repo = args.repo.resolve()
    shas = subprocess.run(["git", "rev-list", "--first-parent", "-n",
                           str(args.commits * args.every), "HEAD"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.split()[::args.every]
    cases = [(f"{sha}^^!", f"{sha}^!") for sha in shas]
    if args.range:
        cases.append((f"{args.range.split('..')[0]}^!", args.range))
    different = 0
    for first, rev in cases:
        equal = same(repo, first, rev)
        different += not equal
        print(f"{rev}: {'same' if equal else 'DIFFERENT'}", flush=True)
    print(f"{len(cases)} plans, {different} different")
    sys.exit(1 if different else 0)


if __name__ == "__main__":
    main()

"""Benchmark the analysis stage: cold fan-in index, warm re-plan, memory, parse throughput.

    python benchmarks/bench_analysis.py --repo /tmp/netbox [--records changes.jsonl]

The repository is read through git only (`ls-tree`, `cat-file`), so a clone without a checked
out work tree is enough; its `.git/cartriage/` cache is deleted first to measure a cold build.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cartriage import config as configuration
from cartriage.analysis import analyze, fanin
from cartriage.intake import ChangeRequest, parse_diff, read_change
from cartriage.intake.change import ChangeSet


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True,
                          text=True).stdout


def _range_with_files(repo: Path, wanted: int) -> str:
    """A range HEAD~n..HEAD whose diff touches about `wanted` files."""
    for n in range(1, 200):
        names = _git(repo, "diff", "--name-only", f"HEAD~{n}", "HEAD").split()
        if len(names) >= wanted:
            return f"HEAD~{n}..HEAD"
    return "HEAD~200..HEAD"


def _peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--files", type=int, default=20, help="files in the warm re-plan change")
    parser.add_argument("--records", type=Path,
                        default=Path("/work/shared/data/changes-train.jsonl"))
    args = parser.parse_args()
    repo = args.repo.resolve()
    config = configuration.load(cwd=repo)
    shutil.rmtree(Path(_git(repo, "rev-parse", "--absolute-git-dir").strip()) / "cartriage",
                  ignore_errors=True)

    head = _git(repo, "rev-parse", "HEAD").strip()
    started = time.perf_counter()
    ignored = fanin.ignore_pattern(config.get("ignore", "paths") + config.get("ignore", "extra"))
    index = fanin.build(str(repo), head, ignored=ignored,
                        max_bytes=config.get("analysis", "max_file_bytes"), workers=2)
    cold = time.perf_counter() - started
    megabytes = index.stats["parsed_bytes"] / 1e6
    total = len(_git(repo, "ls-tree", "-r", "--name-only", head).split())
    print(f"repository: {repo.name} at {head[:12]}, {total} files, "
          f"{index.stats['files']} source files indexed")
    print(f"cold fan-in index: {cold:.2f} s  ({index.stats['parsed']} files, {megabytes:.1f} MB: "
          f"{index.stats['parsed'] / cold:.0f} files/s, {megabytes / cold:.1f} MB/s incl. git)")

    started = time.perf_counter()
    fanin.build(str(repo), head, ignored=ignored, workers=2)
    print(f"warm fan-in index: {time.perf_counter() - started:.3f} s")

    span = _range_with_files(repo, args.files)
    started = time.perf_counter()
    change = read_change(ChangeRequest(repo=repo, rev=span), config)
    intake_seconds = time.perf_counter() - started
    started = time.perf_counter()
    analyze(change, config)
    first = time.perf_counter() - started
    started = time.perf_counter()
    result = analyze(change, config)
    warm = time.perf_counter() - started
    cores = [f.path for f in result.files if "core" in f.role_names]
    print(f"plan of {span} ({len(change.files)} files), index warm: first analysis "
          f"{first:.3f} s, re-plan {warm:.3f} s (intake {intake_seconds:.3f} s); "
          f"core files: {len(cores)}")

    if args.records.is_file():
        records = [json.loads(line) for line in args.records.open(encoding="utf-8")]
        changes = []
        for record in records:
            try:
                files = parse_diff(record.get("diff", "").encode(), record["id"])
            except Exception:  # noqa: BLE001 - a truncated diff is skipped, as in training
                continue
            changes.append(ChangeSet(source=record["id"], files=files))
        started = time.perf_counter()
        for change in changes:
            analyze(change, config)
        per = (time.perf_counter() - started) / max(len(changes), 1) * 1000
        print(f"diff-only analysis: {len(changes)} records, {per:.1f} ms per record")

    own, children = _peak_mb()
    print(f"peak memory: {own:.0f} MB (this process), {children:.0f} MB (largest child)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

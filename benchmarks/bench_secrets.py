"""Before/after speed of the secret scan (`review.secrets.findings`, what a plan runs) on a
real diff.

    python benchmarks/bench_secrets.py --base BASE [--git-dir GIT] [--range A..B]
                                       [--exclude PATH ...] [--runs 3]

The diff is `git diff A B` in GIT (default: this repository, from its first commit to HEAD),
without the --exclude paths. BASE is a checkout of the code to compare with (e.g.
`git worktree add --detach /tmp/base_s2 9259a5c`). Each run parses the diff in a fresh
process with PYTHONPATH set to BASE ("before") and to this checkout ("after"), interleaved, and
times the first load of the rules (detect-secrets' import) and the scan itself: CPU time
(`time.process_time`) and wall time, min / median / max over the runs, and lines scanned per
CPU second. Both must report the same findings (a digest of them is compared).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
from benchmarks.variant import run_json  # noqa: E402 - the benchmarks folder, from a script

CHILD = """
import hashlib, json, sys, time
from cartriage.intake.change import ChangeSet
from cartriage.intake.diff import parse_diff
from cartriage.review import redact, secrets
change = ChangeSet(source="diff", files=parse_diff(open(sys.argv[1], "rb").read()))
lines = sum(len(hunk.lines) for file in change.files for hunk in file.hunks)
cpu, wall = time.process_time(), time.perf_counter()
redact._token_rules()
load = time.process_time() - cpu
cpu, wall = time.process_time(), time.perf_counter()
found = secrets.findings(change)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
digest = hashlib.sha256(repr([(f.file, f.line_start, f.line_end, f.title)
                              for f in found]).encode()).hexdigest()[:12]
print(json.dumps({"load": load, "cpu": cpu, "wall": wall, "lines": lines,
                  "findings": len(found), "digest": digest}))
"""


def measure(code: Path, diff: Path) -> dict:
    return run_json(code, CHILD, str(diff), what="the scan")


def spread(values: list[float]) -> str:
    return " / ".join(f"{v:.3f}" for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--git-dir", type=Path, default=None)
    parser.add_argument("--range", dest="span", default=None)
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    git = ["git", f"--git-dir={args.git_dir}"] if args.git_dir else ["git", "-C", str(HERE)]
    span = args.span or (subprocess.run([*git, "rev-list", "--max-parents=0", "HEAD"],
                                        capture_output=True, text=True, check=True)
                         .stdout.split()[-1] + "..HEAD")
    with tempfile.NamedTemporaryFile(suffix=".diff") as diff:
        subprocess.run([*git, "diff", "--no-color", *span.split(".."), "--", ".",
                        *(f":!{path}" for path in args.exclude)], stdout=diff, check=True)
        results: dict[str, list[dict]] = {"before": [], "after": []}
        for _ in range(args.runs):
            for variant, code in (("before", args.base.resolve()), ("after", HERE)):
                results[variant].append(measure(code, Path(diff.name)))
    first = results["before"][0]
    print(f"diff {span}: {first['lines']:,} hunk lines, {first['findings']} findings, "
          f"{args.runs} runs")
    print("| variant | rules load CPU s | scan CPU s | scan wall s | lines per CPU s (median) |")
    print("|---|---|---|---|---|")
    for variant, runs in results.items():
        cpu = [r["cpu"] for r in runs]
        print(f"| {variant} | {spread([r['load'] for r in runs])} | {spread(cpu)} | "
              f"{spread([r['wall'] for r in runs])} | "
              f"{first['lines'] / statistics.median(cpu):,.0f} |")
    digests = {r["digest"] for runs in results.values() for r in runs}
    print("same findings before and after:", "yes" if len(digests) == 1 else f"NO {digests}")


if __name__ == "__main__":
    main()

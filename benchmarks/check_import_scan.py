"""Check that the fan-in index's import scan gives the imports of a whole-file parse.

    python benchmarks/check_import_scan.py --repo PATH [--all] [--max-bytes 1000000]

For every Python blob of PATH's history (`--all`: every ref, else the first-parent history of
HEAD) up to --max-bytes (the index's `[analysis] max_file_bytes`), compares the imports
`symbols.outline` extracts from the import statements alone (`languages/python.py`,
`import_statements`) with those a parse of the whole file gives, and reports how many blobs
the scan served, how many fell back to the whole parse, the mismatches and the CPU time of
each way.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cartriage.analysis import languages  # noqa: E402
from cartriage.analysis.fanin import read_blobs  # noqa: E402
from cartriage.analysis.symbols import outline  # noqa: E402


def python_blobs(repo: Path, every_ref: bool, max_bytes: int) -> list[str]:
    walk = ["--all"] if every_ref else ["--first-parent", "HEAD"]
    log = subprocess.run(["git", "-C", str(repo), "log", *walk, "--raw", "--no-abbrev",
                          "--no-renames", "--format=", "--", "*.py", "*.pyi"],
                         capture_output=True, text=True, check=True).stdout
    blobs = sorted({line.split()[3] for line in log.splitlines()
                    if line.startswith(":") and set(line.split()[3]) != {"0"}})
    sizes = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-check"],
                           input="\n".join(blobs) + "\n", capture_output=True, text=True,
                           check=True).stdout.split("\n")
    return [b for b, s in zip(blobs, sizes, strict=False)
            if len(s.split()) == 3 and int(s.split()[2]) <= max_bytes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--max-bytes", type=int, default=1_000_000)
    args = parser.parse_args()
    python = languages.get("python")
    blobs = python_blobs(args.repo, args.all, args.max_bytes)
    scanned = fallback = total = 0
    spent = {"scan": 0.0, "whole": 0.0}
    mismatches = []
    for start in range(0, len(blobs), 500):
        for blob, data in read_blobs(str(args.repo), blobs[start:start + 500]).items():
            total += len(data)
            began = time.process_time()
            reduced = outline(python, data, definitions=False).imports
            spent["scan"] += time.process_time() - began
            began = time.process_time()
            whole = outline(python, data, definitions=False, reduce=False).imports
            spent["whole"] += time.process_time() - began
            if python.module.import_statements(data) is None:
                fallback += 1
            else:
                scanned += 1
            if reduced != whole:
                mismatches.append(blob)
                print(f"mismatch {blob}: {len(whole)} imports in the whole parse, "
                      f"{len(reduced)} from the scan", flush=True)
    print(f"{len(blobs):,} Python blobs, {total / 1e6:.1f} MB: {scanned:,} scanned, "
          f"{fallback:,} parsed whole, {len(mismatches)} mismatches; CPU s: scan + parse of "
          f"the statements {spent['scan']:.2f}, whole parse {spent['whole']:.2f}")
    raise SystemExit(1 if mismatches else 0)


if __name__ == "__main__":
    main()

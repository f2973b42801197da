"""Intake and start-up benchmark: parse a 100,000-line diff; time `--version` and `--help`.

Run: python benchmarks/bench_intake.py   (targets: parse < 2 s and < 300 MB; start-up < 0.3 s)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time


def synthetic_diff(lines: int, files: int = 200) -> bytes:
    """A git diff of `files` files with `lines` diff lines in all, hunks of 40 lines."""
    out = []
    per_file = lines // files
    for index in range(files):
        out.append(f"diff --git a/src/pkg{index % 17}/module_{index}.py "
                   f"b/src/pkg{index % 17}/module_{index}.py\n"
                   f"index {'1' * 40}..{'2' * 40} 100644\n"
                   f"--- a/src/pkg{index % 17}/module_{index}.py\n"
                   f"+++ b/src/pkg{index % 17}/module_{index}.py\n")
        written, start = 0, 1
        while written < per_file:
            out.append(f"@@ -{start},20 +{start},20 @@ def function_{start}(x):\n")
            for line in range(10):
                out.append(f"     context = compute({line}, x)  # unchanged\n")
            for line in range(10):
                out.append(f"-    value = old_call({line})\n")
                out.append(f"+    value = new_call({line}, strict=True)\n")
            for line in range(10):
                out.append(f"     return value + {line}\n")
            written += 41
            start += 100
    return "".join(out).encode()


def parse_in_child(lines: int) -> dict:
    """Parse in a fresh interpreter so peak memory (max RSS) belongs to the parse alone."""
    code = f"""
import json, resource, time, sys
sys.path.insert(0, {str(__import__('pathlib').Path(__file__).resolve().parents[1])!r})
from benchmarks.bench_intake import synthetic_diff
from cartriage.intake import parse_diff
data = synthetic_diff({lines})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
files = parse_diff(data)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"lines": data.count(b"\\n"), "bytes": len(data), "files": len(files),
                  "seconds": seconds, "peak_rss_mb": peak / 1024,
                  "parse_rss_mb": (peak - base) / 1024}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def startup(args: list[str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cartriage", *args], capture_output=True,
                       check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def heavy_imports(args: list[str]) -> list[str]:
    code = (f"import sys; sys.argv=['cartriage', *{args!r}]\n"
            "from cartriage.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(','.join(m for m in ('litellm','onnxruntime','sklearn','git','tree_sitter')"
            " if m in sys.modules) + '|loaded', file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    line = next(x for x in done.stderr.splitlines() if x.endswith("|loaded"))
    return [m for m in line.removesuffix("|loaded").split(",") if m]


def main() -> None:
    parse = parse_in_child(100_000)
    print(f"parse: {parse['lines']:,} diff lines ({parse['bytes'] / 1e6:.1f} MB, "
          f"{parse['files']} files) in {parse['seconds']:.2f} s; peak RSS "
          f"{parse['peak_rss_mb']:.0f} MB (parse added {parse['parse_rss_mb']:.0f} MB)")
    for args in (["--version"], ["--help"]):
        print(f"cartriage {' '.join(args)}: {startup(args) * 1000:.0f} ms (median of 7); "
              f"heavy modules imported: {heavy_imports(args) or 'none'}")


if __name__ == "__main__":
    main()

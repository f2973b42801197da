"""Benchmark: `cartriage calibrate` per strategy and context level against the scripted server.

Starts the test suite's OpenAI-compatible server (tests/llm_server.py) on 127.0.0.1 with a
scripted reviewer, clones this repository, and runs `cartriage calibrate RANGE --strategies
single,multi,deliberate --context hunks,function,callers`. The scripted reviewer is not a model:
it reports every added line of the diff that is not a line of the file at any commit of the range
(that is, the injected rewrite), and only when it samples (temperature > 0); its judge confirms
every candidate. So its detection says how the strategies' sampling and merging behave, not what
a model catches; what the run measures for real is what each context level adds to the prompts
(tokens per unit, counted by the server; the response cache is off, so every call is paid) and
that every variant runs end to end.

    python benchmarks/bench_calibrate_scripted.py [--range A..B] [--units 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import (  # noqa: E402
    LLMServer,
    Reply,
    confirm_all,
    finding,
    findings,
    prompt_text,
)

RANGE = "2564959~1..c2bec75"
ADDED = re.compile(r"^\s*(\d+) \+ (.*)$", re.M)
DIFF = re.compile(r"<<<UNTRUSTED DIFF (\w+)>>>\n(.*?)\n<<<END UNTRUSTED DIFF \1>>>", re.S)


def original_lines(repo: Path, span: str) -> dict[str, set[str]]:
    """Every line of every file changed in `span`, at every commit of it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True,
                              text=True, errors="replace").stdout

    lines: dict[str, set[str]] = {}
    for sha in git("rev-list", span).split():
        for path in git("diff-tree", "--no-commit-id", "--name-only", "-r", sha).split():
            try:
                text = git("show", f"{sha}:{path}")
            except subprocess.CalledProcessError:
                continue  # deleted at this commit
            lines.setdefault(path, set()).update(text.splitlines())
    return lines


def responder(original: dict[str, set[str]]):
    def answer(body):
        text = prompt_text(body)
        if "final judge" in text:
            return confirm_all(text)
        path = re.search(r"File: (\S+)", text).group(1)
        diff = DIFF.search(text)
        found = []
        if diff and body.get("temperature", 0) > 0:
            for number, line in ADDED.findall(diff.group(2)):
                if line not in original.get(path, set()):
                    found.append(finding(path, int(number), f"Wrong logic: {line.strip()}"))
        return Reply(findings(*found))
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", default=RANGE)
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cartriage-scripted-"))
    clone = work / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    with LLMServer(responder(original_lines(clone, args.range))) as server:
        (work / "scripted.toml").write_text(
            f'[llm]\nmodel = "openai/scripted"\napi_base = "{server.url}"\n')
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": "none",
               "CARTRIAGE_LOG_DB": str(work / "logs.db"),
               "CARTRIAGE_CACHE_DIR": str(work / "cache")}
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "cartriage", "calibrate", args.range, "--config",
             str(work / "scripted.toml"), "--units", str(args.units), "--strategies",
             "single,multi,deliberate", "--context", "hunks,function,callers", "--budget",
             "2M", "--out", str(work / "calibration.json"), "--format", "json", "-q",
             "--no-cache"],
            cwd=clone, env=env, capture_output=True, check=False)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"calibrate exited {done.returncode}: {done.stderr.decode()[-500:]}")
    report = json.loads(done.stdout)
    print(f"{len(report['cases'])} units ({sum(c['kind'] != 'clean' for c in report['cases'])} "
          f"injected), {server.count} calls, {wall:.0f} s wall")
    print(f"{'strategy@context':<21}{'detected':>9}{'false/clean':>12}{'tokens/unit':>12}")
    for row in report["report"]:
        if row["tier"] == "all":
            print(f"{row['strategy']:<21}{row['detected']:>5}/{row['injected']:<3}"
                  f"{row['false_per_clean'][0]:>12.2f}{row['tokens_per_unit'][0]:>12,.0f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()

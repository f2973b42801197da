"""Scoring benchmark: model size, load times, the cost of scoring per plan and per unit.

    python benchmarks/bench_scoring.py --data /path/to/changes-train.jsonl [--repeats 10]
        [--before /path/to/older/models]

Each figure is CPU time and wall time, min/median/max over --repeats runs. Cases:
- loading the three models in a fresh process (with the onnxruntime import), and the sentence
  encoder (models/encoder/) on top: it loads only when some change misses the score cache;
- `score()` of a 50-file change and of an 850-file range: cold (a fresh process: imports, models,
  encoder, one encoder pass for the change's text, every unit) and warm (models loaded);
- the same change served from the score cache (scoring.cache, a fresh process).
`--before` runs the cold and warm cases with another model folder too (e.g. the models of the
base commit, `git archive <base> models | tar -x -C /tmp/before`), in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOAD = """
import time
c, w = time.process_time(), time.perf_counter()
from cartriage.scoring import model
for name in model.NAMES:
    model.load(name)
models = time.process_time() - c, time.perf_counter() - w
from cartriage.scoring import encoder
if (model.model_dir() / encoder.FOLDER).is_dir():  # models that predate the encoder have none
    encoder.encode(["warm up"], model.model_dir())
print(*models, time.process_time() - c, time.perf_counter() - w)
"""

# Builds the benchmark's changes from the records (argv: data file, files wanted, repo or "-").
SETUP = """
import json, os, sys
from dataclasses import replace
from pathlib import Path
from cartriage import config as configuration
from cartriage.analysis import analyze
from cartriage.scoring.records import to_change

def changes(data, wanted, repo):
    wanted = int(wanted)
    config = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    rows = [json.loads(raw) for raw in Path(data).read_text().splitlines() if raw.strip()]
    found = [to_change(r, config) for r in rows if r.get("diff")]
    found.sort(key=lambda c: (-len(c.files), c.source))
    files, text = [], []
    for change in found:  # the largest changes first, their files under distinct prefixes
        text.append(change.title)
        files += [replace(f, path=f"r{len(text)}/{f.path}") for f in change.files]
        if len(files) >= wanted:
            break
    change = replace(found[0], files=tuple(files[:wanted]), description="\\n".join(text),
                     repo_root=None if repo == "-" else repo)
    return change, analyze(change, config), config
"""

COLD = SETUP + """
import time
change, analysis, config = changes(*sys.argv[1:4])
c, w = time.process_time(), time.perf_counter()
from cartriage.scoring import %s as scoring
scores = scoring.score(change, analysis, config)
print(time.process_time() - c, time.perf_counter() - w, len(scores.units))
"""


def timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return cpu, wall


def line(label: str, cpu: list[float], wall: list[float]) -> str:
    def ms(values):
        return (f"{1000 * min(values):.1f}/{1000 * statistics.median(values):.1f}/"
                f"{1000 * max(values):.1f}")
    return f"{label}: CPU {ms(cpu)} ms, wall {ms(wall)} ms (min/median/max)"


def fresh(code: str, args: list[str], repeats: int, env: dict) -> list[list[float]]:
    """Columns of the numbers each fresh process prints, over `repeats` processes."""
    runs = [subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                           check=True, env=env).stdout.split() for _ in range(repeats)]
    return [[float(run[i]) for run in runs] for i in range(len(runs[0]))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--before", type=Path, default=None,
                        help="another model folder to run the cold and warm cases with")
    args = parser.parse_args()
    from cartriage.scoring import model

    folder = model.model_dir()
    sizes = {p.relative_to(folder): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    for name, size in sorted(sizes.items()):
        print(f"{name}: {size / 1024:.0f} KiB")
    print(f"models folder: {sum(sizes.values()) / 2**20:.2f} MiB")

    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    repeats = max(3, args.repeats // 2)
    folders = {"after": folder} if args.before is None else {"before": args.before,
                                                             "after": folder}
    for label, models in folders.items():
        cpu, wall, cpu_all, wall_all = fresh(LOAD, [], repeats,
                                             {**env, "CARTRIAGE_MODEL_DIR": str(models)})
        print(line(f"{label}: load 3 models in a fresh process (incl. onnxruntime import)",
                   cpu, wall))
        print(line(f"{label}:   and the sentence encoder too, if any", cpu_all, wall_all))

    for files in (50, 850):
        for label, models in folders.items():
            env_models = {**env, "CARTRIAGE_MODEL_DIR": str(models)}
            cpu, wall, units = fresh(COLD % "predict", [str(args.data), str(files), "-"],
                                     repeats, env_models)
            print(line(f"{label}: score() {files} files, {int(units[0])} units, cold (fresh "
                       "process)", cpu, wall))
            os.environ["CARTRIAGE_MODEL_DIR"] = str(models)
            model.clear_cache()
            namespace: dict = {}
            exec(SETUP, namespace)  # noqa: S102 - the benchmark's own setup code, above
            change, analysis, config = namespace["changes"](str(args.data), files, "-")
            from cartriage.scoring import predict

            predict.score(change, analysis, config)
            cpu, wall = timed(lambda: predict.score(change, analysis, config),  # noqa: B023
                              args.repeats)
            print(line(f"{label}: score() {files} files, warm (models loaded)", cpu, wall))
            count = len(analysis.units)
            print(f"{label}:   per unit, warm: CPU {1000 * statistics.median(cpu) / count:.2f} "
                  "ms (median)")
        with tempfile.TemporaryDirectory() as repo:
            subprocess.run(["git", "init", "-q", repo], check=True)
            served = [str(args.data), str(files), repo]
            fresh(COLD % "cache", served, 1, env)  # fills the cache
            cpu, wall, _ = fresh(COLD % "cache", served, repeats, env)
            print(line(f"score() {files} files from the score cache (fresh process)", cpu, wall))
    os.environ.pop("CARTRIAGE_MODEL_DIR", None)


if __name__ == "__main__":
    main()

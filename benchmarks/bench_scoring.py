"""Scoring benchmark: model size, load times, the cost of scoring per plan, per unit, per batch.

    python benchmarks/bench_scoring.py --data /path/to/changes-train.jsonl [--repeats 10]
        [--base /path/to/older/checkout]

Every case runs in fresh Python processes (CPU time and wall time, min/median/max over the
runs); with --base, the same cases run with that checkout's code and models too, alternating
with this one's, in the same run (e.g. `git worktree add --detach /tmp/base cf7d585`):
- load: imports (cartriage.scoring first, as in a plan; numpy, onnxruntime, tokenizers,
  cartriage's scoring modules), the two models a plan with a diff loads, the sentence encoder
  (tokenizer, session, first pass on "warm up"): "model load of a plan with a diff", without
  and with the imports; then the issue-only plan's model (three models) and the encoder's
  load in parts;
- the encoder's pass over one text of 16, 32, 64 and 128 tokens, warm (prepacked, and since
  the sixth session also unpacked, as a plan's single text loads it);
- `score()` of a 50-file change and of an 850-file range: cold (imports, models, encoder, one
  encoder pass for the change's text, every unit) and warm (models loaded, median of --repeats),
  and of the warm time, the encoder's pass over the change's text alone;
- a batch: the 200 largest records' changes scored one `score()` at a time, and with
  `score_many` (where the code has it), models loaded;
- the 50-file change served from the score cache (scoring.cache).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Each snippet prints "label cpu_seconds wall_seconds" lines. The first argument is the data file.
LOAD = """
import sys, time
def now():
    return time.process_time(), time.perf_counter()
def mark(label, since, until=None):
    until = until or now()
    print(label.replace(" ", "_"), until[0] - since[0], until[1] - since[1])
    return until
start = at = now()
import os
try:  # what the command does before anything loads numpy (since the sixth session)
    from cartriage.__main__ import one_blas_thread
    one_blas_thread(os.environ)
except ImportError:
    pass
import cartriage.scoring  # first, as in a plan
at = mark("import cartriage.scoring (the package)", at)
import numpy
at = mark("import numpy", at)
import onnxruntime
at = mark("import onnxruntime", at)
import tokenizers
at = mark("import tokenizers", at)
from cartriage.scoring import encoder, model
imported = at = mark("import cartriage.scoring.model", at)
for name in ("consequence", "difficulty"):  # the two models a plan with a diff loads
    model.load(name)
    at = mark(f"session {name}", at)
two = at
folder = model.model_dir()
sha = model.load("consequence").card["encoder"]["sha256"]
# the graph a plan with a diff loads (one graph before the fifth session)
DIFF_GRAPH = {"products": "integer"} if hasattr(encoder, "PRODUCTS") else {}
encoder.encode(["warm up"], folder, sha, **DIFF_GRAPH)
at = mark("encoder (tokenizer, session, first pass)", two)
mark("model load of a plan with a diff: two models, encoder, first pass", imported, at)
mark("... with every import above", start, at)
before = at
model.load("consequence-issue")  # an issue-only plan's model
at = mark("session consequence-issue", before)
print("three_models,_with_all_imports", *(t - s + a - b for t, s, a, b in zip(two, start, at,
                                                                              before)))
# The encoder's load in parts (a plan's session: unpacked since s6, always prepacked before)
if hasattr(encoder, "tokenizer"):  # since s6: settings and vocab.txt, split by derive.py
    encoder.tokenizer(folder / "encoder")
else:
    tokenizers.Tokenizer.from_str((folder / "encoder/tokenizer.json").read_text())
at = mark("... tokenizer", at)
import hashlib
for name in ("model.onnx", "weights.bin"):
    hashlib.sha256((folder / "encoder" / name).read_bytes()).hexdigest()
at = mark("... sha256 of model.onnx and weights.bin", at)
try:
    encoder.session(folder / "encoder", sha, products="integer", prepack=False)
except TypeError:  # before s6: always prepacked
    encoder.session(folder / "encoder", sha, products="integer")
at = mark("... encoder session, as a plan loads it (its sha256 again, and the session)", at)
"""

# Builds the benchmark's changes from the records (argv: data file, files wanted).
SETUP = """
import json, os, statistics, sys, time
from dataclasses import replace
from pathlib import Path
from cartriage import config as configuration
from cartriage.analysis import analyze
from cartriage.scoring.records import to_change

config = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
rows = [json.loads(raw) for raw in Path(sys.argv[1]).read_text().splitlines() if raw.strip()]
found = [to_change(r, config) for r in rows if r.get("diff")]
found.sort(key=lambda c: (-len(c.files), c.source))

def combined(wanted, repo=None):
    files, text = [], []
    for change in found:  # the largest changes first, their files under distinct prefixes
        text.append(change.title)
        files += [replace(f, path=f"r{len(text)}/{f.path}") for f in change.files]
        if len(files) >= wanted:
            break
    change = replace(found[0], files=tuple(files[:wanted]), description="\\n".join(text),
                     repo_root=repo)
    return change, analyze(change, config)

def timed(fn):
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c, time.perf_counter() - w
"""

SCORE = SETUP + """
files, repeats = int(sys.argv[2]), int(sys.argv[3])
change, analysis = combined(files)

def cold():
    from cartriage.scoring import predict  # numpy, onnxruntime, the models, the encoder
    return predict.score(change, analysis, config)

scores, cpu, wall = timed(cold)
print(f"score_{files}_files_cold_({len(scores.units)}_units)", cpu, wall)
from cartriage.scoring import predict
runs = [timed(lambda: predict.score(change, analysis, config))[1:] for _ in range(repeats)]
print(f"score_{files}_files_warm_(median_of_{repeats})",
      statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
from cartriage.scoring import model
models = {name: (model.load(name), [0]) for name in ("consequence", "difficulty")}

def embed():
    try:  # {name: (model, indices of the changes it scores)}, since the fourth session
        return predict.text_embeddings([change], models)
    except AttributeError:  # before it: a list of models
        return predict.text_embeddings([change], [m for m, _ in models.values()])

runs = [timed(embed)[1:] for _ in range(repeats)]
print(f"..._of_which_the_encoder's_pass_over_the_change's_text_(median_of_{repeats})",
      statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
"""

BATCH = SETUP + """
from cartriage.scoring import predict
pairs = [(c, analyze(c, config)) for c in found[:200]]
predict.score(*pairs[0], config)  # models and encoder loaded
_, cpu, wall = timed(lambda: [predict.score(c, a, config) for c, a in pairs])
print("200_changes,_score()_each", cpu, wall)
if hasattr(predict, "score_many"):
    _, cpu, wall = timed(lambda: predict.score_many(pairs, config))
    print("200_changes,_score_many()", cpu, wall)
"""

# The encoder's pass over one text of 16, 32, 64 and 128 tokens ("word" x n-2, [CLS], [SEP]),
# loaded and warmed up: the median of argv[1] calls each.
PASS = """
import statistics, sys, time
from cartriage.scoring import encoder, model
folder, repeats = model.model_dir(), int(sys.argv[1])
# since s6 a session is prepacked when its first call encodes PREPACK_TEXTS texts (always before)
packing = (False, True) if hasattr(encoder, "PREPACK_TEXTS") else (True,)
for graph in getattr(encoder, "PRODUCTS", (None,)):  # one graph before the fifth session
    kind = {} if graph is None else {"products": graph}
    for packed in packing:
        encoder.clear_cache()
        encoder.encode(["warm up"] * (getattr(encoder, "PREPACK_TEXTS", 1) if packed else 1),
                       folder, **kind)
        for tokens in (16, 32, 64, 128):
            text = "word " * (tokens - 2)
            runs = []
            for _ in range(repeats):
                c, w = time.process_time(), time.perf_counter()
                encoder.encode([text], folder, **kind)
                runs.append((time.process_time() - c, time.perf_counter() - w))
            print(f"encoder_pass,_{graph or 'float'}_graph,_{'' if packed else 'un'}prepacked,"
                  f"_{tokens}_tokens_(median_of_{repeats})",
                  statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
"""

CACHED = SETUP + """
from cartriage.scoring import cache
change, analysis = combined(50, sys.argv[2])
scores, cpu, wall = timed(lambda: cache.score(change, analysis, config))
print("score_50_files_from_the_score_cache", cpu, wall)
"""


def fresh(code: str, args: list[str], tree: Path, runs: int) -> dict[str, list[list[float]]]:
    """label -> [cpu list, wall list] over `runs` fresh processes with `tree`'s code."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(tree)}
    env.pop("CARTRIAGE_MODEL_DIR", None)
    out: dict[str, list[list[float]]] = {}
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, check=True, env=env, cwd=tree)
        for row in done.stdout.splitlines():
            label, cpu, wall = row.split()
            found = out.setdefault(label.replace("_", " "), [[], []])
            found[0].append(float(cpu))
            found[1].append(float(wall))
    return out


def line(label: str, cpu: list[float], wall: list[float]) -> str:
    """One case's CPU and wall times (benchmarks/bench_scoring_records.py)."""
    return f"{label}: CPU {spread(cpu)} ms, wall {spread(wall)} ms (min/median/max)"


def spread(values: list[float]) -> str:
    return (f"{1000 * min(values):,.1f} / {1000 * statistics.median(values):,.1f} / "
            f"{1000 * max(values):,.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--base", type=Path, default=None, help="an older checkout to compare")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    trees = {"after": here} if args.base is None else {"before": args.base.resolve(),
                                                       "after": here}
    for label, tree in trees.items():
        folder = tree / "models"
        sizes = {p.relative_to(folder): p.stat().st_size for p in folder.rglob("*")
                 if p.is_file() and p.suffix != ".py"}
        print(f"{label}: models folder {sum(sizes.values()) / 2**20:.2f} MiB ("
              + ", ".join(f"{name} {size / 1024:,.0f} KiB" for name, size in sorted(
                  sizes.items()) if size > 100_000) + ")")
    runs = max(3, args.repeats // 2)
    data = str(args.data.resolve())
    results: dict[str, dict[str, list[list[float]]]] = {label: {} for label in trees}
    with tempfile.TemporaryDirectory() as repo:
        subprocess.run(["git", "init", "-q", repo], check=True)
        for code, code_args, times in ((LOAD, [], runs), (PASS, [str(args.repeats)], runs),
                                       (SCORE, [data, "50", str(args.repeats)], runs),
                                       (SCORE, [data, "850", str(args.repeats)], runs),
                                       (BATCH, [data], 1), (CACHED, [data, repo], 1),
                                       (CACHED, [data, repo], runs)):
            for _ in range(times):  # before and after alternate, so load falls on both
                for label, tree in trees.items():
                    for case, (cpu, wall) in fresh(code, code_args, tree, 1).items():
                        slot = results[label].setdefault(case, [[], []])
                        if code is CACHED and len(slot[0]) == 0 and times == 1:
                            continue  # the first run fills the cache
                        slot[0].append(cpu[0])
                        slot[1].append(wall[0])
    cases = list(dict.fromkeys(c for found in results.values() for c in found))
    print(f"\nCPU ms and wall ms, min / median / max, fresh processes; load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| case | " + " | ".join(f"{label} CPU | {label} wall" for label in trees) + " |")
    print("|---|" + "---|---|" * len(trees))
    for case in cases:
        row = [case]
        for label in trees:
            cpu, wall = results[label].get(case, [[], []])
            row += [spread(cpu), spread(wall)] if cpu else ["-", "-"]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

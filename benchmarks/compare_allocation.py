"""Plans before and after a change to `cartriage/allocation/`: the same, field for field.

    python benchmarks/compare_allocation.py --base BASE

BASE is a checkout of the code to compare with (e.g. `git worktree add --detach /tmp/base
cf7d585`). Each checkout plans, in its own process, the same synthetic problems (50-10,000
units from `bench_allocation.synthetic`, some in files that may hold secrets, some under a rule
minimum; every policy; budgets from a tenth of a single pass for every unit to three; value
floors off and on; a USD budget; and a batch of three changes under one budget), and prints a
digest of each plan's `repr` (every field, floats exactly). The digests must be equal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

CHILD = """
import dataclasses, hashlib, json, sys, tempfile
from pathlib import Path
sys.path.append(sys.argv[1])
import numpy as np
from benchmarks.bench_allocation import synthetic
from cartriage import allocation, config as configuration
from cartriage.analysis.facts import Unit

RULES = '[[rules]]\\npath = "src/m1/**"\\nmin_strategy = "multi"\\n'


def problem(units, seed):
    analysis, scores = synthetic(units, seed)
    secret = [dataclasses.replace(u, path=".env" if i % 97 == 5 else u.path)
              for i, u in enumerate(analysis.units)]
    return dataclasses.replace(analysis, units=tuple(secret)), scores


def settings(folder, budget, floor, rules, usd=None):
    text = RULES if rules else ""
    (folder / "cartriage.toml").write_text(text)
    overrides = {("budget", "min_gain_per_1k_tokens"): floor}
    if usd is None:
        overrides[("budget", "tokens")] = budget
    else:
        overrides |= {("budget", "usd"): usd, ("llm", "model"): "gpt-4o-mini"}
    return configuration.load(cwd=folder, overrides=overrides, env={})


digests = {}
folder = Path(tempfile.mkdtemp())
for units in (50, 300, 2_000, 10_000):
    analysis, scores = problem(units, units)
    table = allocation.strategy_table(configuration.load(cwd=folder, env={}), usd=False)
    single = float(table.tokens(np.array([allocation.estimate_prompt_tokens(u)
                                          for u in analysis.units], float))[:, 1].sum())
    for policy in ("uniform", "difficulty-ranked", "difficulty-aware", "consequence-aware",
                   "priority-aware"):
        for share in (0.1, 0.5, 1.0, 3.0):
            for floor in (0.0, 0.05):
                for rules in (False, True):
                    config = settings(folder, int(single * share), floor, rules)
                    plan = allocation.allocate(analysis, scores, config, policy)
                    key = f"{units} {policy} {share} {floor} {rules}"
                    digests[key] = hashlib.sha256(repr(plan).encode()).hexdigest()
    config = settings(folder, 0, 0.0, False, usd=0.002 * units)
    digests[f"{units} usd"] = hashlib.sha256(
        repr(allocation.allocate(analysis, scores, config)).encode()).hexdigest()
changes = [(f"c{i}", *problem(n, i)) for i, n in enumerate((40, 400, 4_000))]
for share in (10_000, 300_000):
    config = settings(folder, share, 0.05, True)
    digests[f"batch {share}"] = hashlib.sha256(
        repr(allocation.plan_batch(changes, config)).encode()).hexdigest()
print(json.dumps(digests))
"""


def digests(code: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYTHONPATH": str(code), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(HERE)], env=env,
                          cwd=tempfile.gettempdir(), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"planning failed under {code}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    args = parser.parse_args()
    before, after = digests(args.base.resolve()), digests(HERE)
    differ = sorted(key for key in before if before[key] != after.get(key))
    print(f"{len(before)} plans compared; different: {len(differ)}")
    for key in differ:
        print("  differs:", key)
    raise SystemExit(1 if differ or before.keys() != after.keys() else 0)


if __name__ == "__main__":
    main()

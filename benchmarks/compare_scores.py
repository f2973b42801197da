"""Do two checkouts score alike? Real records, and every unit of a real range, scored by both.

    python benchmarks/compare_scores.py --base /path/to/older/checkout
        --data changes-train.jsonl [--data issues-train.jsonl] [--records 400]
        [--repo /path/to/repository --range A..B]

Each checkout scores in its own process (its code and its models): `predict_records` of the
first --records records of each data file, and with --repo, `scoring.score` of the range's
change (no cache). Prints, per part, how many scores were compared, the largest difference of
any probability, expected weight or defect probability, and how many tiers or overrides differ;
then how many scores' top features (the explanations) differ at all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

DUMP = """
import json, os, sys
from dataclasses import asdict
from pathlib import Path
from cartriage import config as configuration
from cartriage.scoring import predict_records
from cartriage.scoring.predict import to_line

records = int(sys.argv[1])
config = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
for data in sys.argv[4:]:
    rows = [json.loads(r) for r in Path(data).read_text().splitlines() if r.strip()][:records]
    for scored in predict_records(rows, config):
        print(json.dumps({"part": Path(data).name, **to_line(scored)}))
if sys.argv[2] != "-":
    from cartriage import intake
    from cartriage.analysis import analyze
    from cartriage.intake import ChangeRequest
    from cartriage.scoring import score

    repo = Path(sys.argv[2])
    config = configuration.load(cwd=repo, env={})
    change = intake.read_change(ChangeRequest(repo=repo, rev=sys.argv[3]), config)
    scores = score(change, analyze(change, config), config)
    for unit in scores.units:
        print(json.dumps({"part": "range units", "id": unit.unit_id,
                          "consequence": asdict(unit.consequence),
                          "difficulty": asdict(unit.difficulty)}))
    print(json.dumps({"part": "range change", "id": sys.argv[3],
                      "consequence": asdict(scores.change),
                      "difficulty": asdict(scores.difficulty)}))
"""


def scores(tree: Path, args) -> list[dict]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(tree)}
    env.pop("CARTRIAGE_MODEL_DIR", None)
    command = [sys.executable, "-c", DUMP, str(args.records),
               str(args.repo) if args.repo else "-", args.range or "-",
               *(str(d.resolve()) for d in args.data)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=tree)
    return [json.loads(line) for line in done.stdout.splitlines()]


def values(value):
    """Every number (as a float) and text (tier, mode, override) inside `value`, in order."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key != "top_features":
                yield from values(inner)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield float(value)
    elif isinstance(value, str) or value is None:
        yield value


def tops(value) -> list:
    """Every top_features list inside `value` (explanations: compared apart, exactly)."""
    if not isinstance(value, dict):
        return []
    return [inner if key == "top_features" else tops(inner) for key, inner in value.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--data", type=Path, action="append", default=[])
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--repo", type=Path)
    parser.add_argument("--range")
    args = parser.parse_args()
    here = Path(__file__).resolve().parents[1]
    before, after = scores(args.base.resolve(), args), scores(here, args)
    assert [(b["part"], b["id"]) for b in before] == [(a["part"], a["id"]) for a in after]
    parts: dict[str, tuple[int, float, int]] = {}
    explained = sum(tops(b) != tops(a) for b, a in zip(before, after, strict=True))
    for b, a in zip(before, after, strict=True):
        gap, differ = 0.0, 0
        for x, y in zip(values(b), values(a), strict=True):
            if isinstance(x, float) and isinstance(y, float):
                gap = max(gap, abs(x - y))
            elif x != y:
                differ += 1
        count, largest, changed = parts.get(b["part"], (0, 0.0, 0))
        parts[b["part"]] = (count + 1, max(largest, gap), changed + (differ > 0))
    print("| part | scores | largest difference | with another tier, mode or override |")
    print("|---|---|---|---|")
    for part, (count, largest, changed) in parts.items():
        print(f"| {part} | {count} | {largest:.2g} | {changed} |")
    print(f"\nscores whose top features differ (names or rounded values): {explained}")


if __name__ == "__main__":
    main()

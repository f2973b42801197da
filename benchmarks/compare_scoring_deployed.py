"""Diff-model candidates as deployed: `cartriage train`'s grouped validation (train.validate:
per unit, tests/docs-only units with their own weight, nested rule) with the diff model's text
input changed, from the records cached by compare_scoring.py.

    python benchmarks/compare_scoring_deployed.py --cache /tmp/prepared.pkl \
        [--only "title embedding" ...]

Candidates: the shipped recipe (the whole text's embedding cut at 256 tokens, each unit pulled
halfway toward its change: train.CHANGE_SHARE), the units alone or pulled by other shares, the
embedding of a shorter text (the title alone, the text cut at 32, 64 or 128 tokens), no
embedding at all (numeric features, with or without the rubric words). The text model
(`consequence-issue`) keeps its recipe in every candidate. The shorter texts' embeddings are
computed once and cached next to `--cache` (`<cache>.<text>-<tokens>-<graph>.npy`). Prints one table
row per candidate: macro-F1 with a diff, high->low, recall of high, issue with its patch,
Brier/ECE, both transfers, the diff confusion matrix, macro-F1 with a diff in each held-out
fold, and the CPU time of the validation.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import numpy as np
from compare_scoring import with_text_features  # this folder (run as a script)

from cartriage.intake.change import ChangeSet
from cartriage.scoring import encoder, features, train
from cartriage.scoring.cache import model_folder

WHOLE = ("text", encoder.MAX_TOKENS)
PRODUCTS = train.EMBEDDED["consequence"][2]  # the encoder graph the diff model reads
SHARE = train.CHANGE_SHARE["consequence"]
# name: (what the diff model embeds, or None for no embedding; rubric words scale; C; how far
# each unit is pulled toward its change, train.CHANGE_SHARE). The shorter texts and the
# models without the embedding were measured with units alone (share 0).
CANDIDATES = {
    "shipped: whole text, 256 tokens, units half in their change": (WHOLE, 0.0, 0.3, SHARE),
    "units alone (share 0)": (WHOLE, 0.0, 0.3, 0.0),
    "share 0.25": (WHOLE, 0.0, 0.3, 0.25),
    "share 0.75": (WHOLE, 0.0, 0.3, 0.75),
    "the change alone (share 1)": (WHOLE, 0.0, 0.3, 1.0),
    "whole text, 128 tokens": (("text", 128), 0.0, 0.3, 0.0),
    "whole text, 64 tokens": (("text", 64), 0.0, 0.3, 0.0),
    "whole text, 32 tokens": (("text", 32), 0.0, 0.3, 0.0),
    "title embedding": (("title", encoder.MAX_TOKENS), 0.0, 0.3, 0.0),
    "title embedding, C=1": (("title", encoder.MAX_TOKENS), 0.0, 1.0, 0.0),
    "title embedding + rubric words x0.3": (("title", encoder.MAX_TOKENS), 0.3, 0.3, 0.0),
    "64 tokens + rubric words x0.3": (("text", 64), 0.3, 0.3, 0.0),
    "128 tokens + rubric words x0.3": (("text", 128), 0.3, 0.3, 0.0),
    "no embedding: numeric only": (None, 0.0, 0.3, 0.0),
    "no embedding: numeric + rubric words x0.3": (None, 0.3, 0.3, 0.0),
    "no embedding: numeric + rubric words x1": (None, 1.0, 0.3, 0.0),
    "no embedding: numeric + rubric words x0.3, C=1": (None, 0.3, 1.0, 0.0),
}


def embeddings(cache: Path, texts: list[str], spec: tuple[str, int]) -> np.ndarray:
    """The cached records' embeddings of `spec` (what, tokens) by the diff model's graph
    (PRODUCTS), computed once."""
    path = cache.with_name(f"{cache.name}.{spec[0]}-{spec[1]}-{PRODUCTS}.npy")
    if path.is_file():
        return np.load(path)
    changes = [ChangeSet(source="cache", title=t.partition("\n")[0],
                         description=t.partition("\n")[2]) for t in texts]
    out = encoder.encode([features.embedded_text(c, spec[0]) for c in changes], model_folder(),
                         max_tokens=spec[1], products=PRODUCTS)
    np.save(path, out)
    return out


def run(data, diff_e: np.ndarray | None, words: float, C: float, share: float) -> dict:
    """train.validate with the diff model reading `diff_e` (None: no embedding), the rubric
    words times `words` (0: none), its C and change share; the train module's settings
    restored after."""
    settings = (train.ENCODED, train.RUBRIC_WORDS, train.C, train.CHANGE_SHARE)
    saved = [dict(d) for d in settings]
    try:
        train.CHANGE_SHARE["consequence"] = share
        if diff_e is None:
            train.ENCODED.pop("consequence", None)
        if words:
            train.RUBRIC_WORDS["consequence"] = words
        train.C["consequence"] = C
        for i, p in enumerate(data):
            p.diff_e = np.zeros(0, dtype=np.float32) if diff_e is None else diff_e[i]
        return train.validate(data)
    finally:
        for current, old in zip(settings, saved, strict=True):
            current.clear()
            current.update(old)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True,
                        help="records prepared by compare_scoring.py --encoder --cache")
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to run")
    parser.add_argument("--json", type=Path, default=None, help="append each report here")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    s = pickle.loads(args.cache.read_bytes())
    data = with_text_features(s)
    print("| candidate | diff | high->low | recall high | issue+patch | Brier / ECE (diff) "
          "| Brier (issue+patch) | changes->issues | issues->changes | confusion (diff) "
          "| diff per fold | CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (spec, words, C, share) in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        diff_e = None if spec is None else (
            s["embeddings"] if spec == WHOLE else embeddings(args.cache, s["texts"], spec))
        cpu = time.process_time()
        with threadpool_limits(1):
            report = run(data, diff_e, words, C, share)
        modes = report["modes"]
        d, ip = modes["diff"]["nested rule"], modes["issue with its patch"]["nested rule"]
        across = [modes[m]["rule from the training file"]["macro_f1"]
                  for m in ("changes -> issues with patch", "issues -> changes")]
        print(f"| {name} | {d['macro_f1']:.3f} | {d['high_predicted_low']}/{d['highs']} | "
              f"{d['recall_high']:.3f} | {ip['macro_f1']:.3f} | {d['brier']:.3f} / "
              f"{d['ece']:.3f} | {ip['brier']:.3f} | {across[0]:.3f} | {across[1]:.3f} | "
              f"{d['confusion']} | {d['macro_f1_per_fold']} | {time.process_time() - cpu:.0f} s |",
              flush=True)
        if args.json:
            with args.json.open("a") as out:
                out.write(json.dumps({"candidate": name, **report}) + "\n")


if __name__ == "__main__":
    main()

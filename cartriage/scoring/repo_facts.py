"""Repository facts of labelled records: fan-in of each changed file at the record's commit.

The labelled records carry only diffs, but they name their repository and commit (`repo`,
`sha`). This module rebuilds, once, what the analysis stage computes when a repository is
present (fan-in, its percentile among the indexed files, and the `core` role it drives), with
the real analysis code, and stores it in a small sidecar (`models/training-repo-facts.jsonl`)
so that `cartriage train` reproduces the shipped model without network or repositories:

    python -m cartriage.scoring.repo_facts --data changes-train.jsonl \
        --repos '/work/.mirror/{owner}+{name}/repo' --out models/training-repo-facts.jsonl

`--repos` is a path template to a git directory (bare or not) holding each repository's
history. Each repository is cloned with `git clone --bare --shared` into a scratch folder, so the
fan-in cache (`cartriage/` in the git dir) is written there and never into the source. A record
whose commit is missing gets `{"id", "missing": why}` and is trained on without repository facts.

At training time `apply()` puts the stored facts into the diff-only analysis of a record.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

from cartriage.analysis.facts import Analysis, RoleHit
from cartriage.scoring.records import all_records

SHIPPED = "training-repo-facts.jsonl"  # in the models folder, next to the models


def load(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """id -> path -> {"fan_in", "fan_in_percentile", "core"}; records marked missing left out."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if "missing" not in entry:
                    out[entry["id"]] = {f["path"]: f for f in entry["files"]}
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{path}: line {number}: not a repository-facts entry") from None
    return out


def apply(analysis: Analysis, facts: dict[str, dict[str, Any]] | None) -> Analysis:
    """The analysis with the stored fan-in facts, as if the repository had been indexed."""
    if facts is None:
        return analysis
    files = []
    for f in analysis.files:
        found = facts.get(f.path)
        if found is None or found.get("fan_in") is None:
            files.append(f)
            continue
        roles = tuple(h for h in f.roles if h.role != "core")
        if found.get("core"):
            roles += (RoleHit("core", f"imported by {found['fan_in']} other files (stored "
                                      f"repository facts, fan-in percentile "
                                      f"{found['fan_in_percentile']:g})"),)
        files.append(replace(f, fan_in=found["fan_in"],
                             fan_in_percentile=found["fan_in_percentile"], roles=roles))
    return replace(analysis, files=tuple(files))


def build(records: list[dict[str, Any]], template: str, scratch: Path,
          log=print) -> list[dict[str, Any]]:
    """Facts for every record, repository by repository, commits in date order (the fan-in
    cache is incremental by blob, so consecutive commits only parse what changed)."""
    from cartriage import config as configuration
    from cartriage.analysis import analyze
    from cartriage.scoring.records import to_change

    settings = configuration.load(cwd=Path("/"), env={"XDG_CONFIG_HOME": os.devnull})
    by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_repo[record["repo"]].append(record)
    results: dict[str, dict[str, Any]] = {}
    for repo in sorted(by_repo):
        started = time.perf_counter()
        owner, _, name = repo.partition("/")
        source = template.format(owner=owner, name=name)
        git_dir = _clone(source, scratch / f"{owner}+{name}.git")
        missing = 0
        for record in sorted(by_repo[repo], key=lambda r: (r.get("date") or "", r["id"])):
            why = None if git_dir else f"no repository at {source}"
            if why is None and not _has_commit(git_dir, record.get("sha")):
                why = "commit not in the repository snapshot"
            if why is not None:
                results[record["id"]] = {"id": record["id"], "missing": why}
                missing += 1
                continue
            change = replace(to_change(record, settings), repo_root=git_dir,
                             old_rev=record.get("parent"), new_rev=record["sha"])
            analysis = analyze(change, settings)
            entry = {"id": record["id"], "sha": record["sha"],
                     "indexed_files": analysis.indexed_files,
                     "files": [{"path": f.path, "fan_in": f.fan_in,
                                "fan_in_percentile": f.fan_in_percentile,
                                "core": "core" in f.role_names} for f in analysis.files]}
            if analysis.indexed_files is None:
                entry["note"] = "; ".join(analysis.notes)
            results[record["id"]] = entry
        log(f"{repo}: {len(by_repo[repo])} records, {missing} without repository facts, "
            f"{time.perf_counter() - started:.0f} s")
    return [results[r["id"]] for r in records]


def _clone(source: str, target: Path) -> str | None:
    if not Path(source).exists():
        return None
    if not target.exists():
        subprocess.run(["git", "clone", "--quiet", "--bare", "--shared", source, str(target)],
                       check=True, capture_output=True)
    return str(target)


def _has_commit(git_dir: str, sha: str | None) -> bool:
    if not sha:
        return False
    done = subprocess.run(["git", "-C", git_dir, "cat-file", "-e", f"{sha}^{{commit}}"],
                          capture_output=True, check=False)
    return done.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cartriage.scoring.repo_facts",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="labelled records (JSONL)")
    parser.add_argument("--repos", required=True,
                        help="git dir template, e.g. '/mirror/{owner}+{name}/repo'")
    parser.add_argument("--out", type=Path, required=True, help="the sidecar to write (JSONL)")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="where to clone (default: a temporary folder, removed afterwards)")
    args = parser.parse_args(argv)
    records = all_records(args.data.read_bytes(), f"--data {args.data}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cartriage-facts-") as temporary:
        scratch = args.scratch or Path(temporary)
        scratch.mkdir(parents=True, exist_ok=True)
        entries = build(records, args.repos, scratch, log=lambda m: print(m, file=sys.stderr))
    args.out.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries),
                        encoding="utf-8")
    missing = sum("missing" in e for e in entries)
    print(f"wrote {args.out}: {len(entries)} records, {missing} without repository facts, "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

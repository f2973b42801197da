"""Where a plan's CPU time goes, stage by stage, in one process.

    python benchmarks/bench_stages.py --repo PATH (--range A..B | --batch N) [--cold]

Runs `pipeline.plan` of a range, or `pipeline.triage_batch` and `allocation.plan_batch` over
the last N first-parent commits, with the plan and score caches of PATH's `.git/cartriage/`
removed first (`--cold`: the whole folder), and prints the CPU seconds (this process and its
children) spent in each stage: reading the change (intake), the fan-in index, the rest of
the analysis, scoring, allocation, secret findings, the plan store (key and save) and, for a
range, the JSON report (as `cartriage plan` makes it: `once`, the models freed once scored),
and the peak resident memory: how much each stage raised the peak, the most resident while
it ran (sampled every 5 ms) and what was resident when it ended.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SPENT: dict[str, float] = defaultdict(float)
GREW: dict[str, float] = defaultdict(float)  # MB the peak resident memory rose by, per stage
HELD: dict[str, float] = {}  # MB resident when the stage (last) ended: what it left behind
HIGHEST: dict[str, float] = defaultdict(float)  # MB resident at most while the stage ran
RUNNING = ["other"]  # the stages running now, innermost last (read by the memory sampler)


def cpu() -> float:
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resident_mb() -> float:
    """Resident memory now (Linux's /proc/self/statm; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed(stage: str, function, inner: str | None = None):
    """`function`, adding its CPU time to `stage` (less what `inner` stages spent inside)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start, before, peak = cpu(), SPENT[inner] if inner else 0.0, peak_mb()
        grew = GREW[inner] if inner else 0.0
        RUNNING.append(stage)
        try:
            return function(*args, **kwargs)
        finally:
            RUNNING.pop()
            SPENT[stage] += cpu() - start - ((SPENT[inner] - before) if inner else 0.0)
            GREW[stage] += peak_mb() - peak - ((GREW[inner] - grew) if inner else 0.0)
            HELD[stage] = resident_mb()
    return wrapper


def sample_memory(every: float = 0.005) -> None:
    """Note the resident memory every few ms against the stage running (a daemon thread)."""
    def sample() -> None:
        while True:
            stage, now = RUNNING[-1], resident_mb()
            HIGHEST[stage] = max(HIGHEST[stage], now)
            time.sleep(every)
    threading.Thread(target=sample, daemon=True).start()


def timed_iterator(stage: str, function):
    """A generator function whose own steps count to `stage` (not its consumer's work)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        iterator = function(*args, **kwargs)
        while True:
            start, peak = cpu(), peak_mb()
            try:
                item = next(iterator)
            except StopIteration:
                SPENT[stage] += cpu() - start
                return
            SPENT[stage] += cpu() - start
            GREW[stage] += peak_mb() - peak
            yield item
    return wrapper


def instrument() -> None:
    from cartriage import allocation, analysis, intake, pipeline
    from cartriage.analysis import fanin
    from cartriage.review import secrets
    from cartriage.scoring import cache

    fanin.build = timed("fan-in index", fanin.build)
    analysis.analyze = timed("analysis (without the index)", analysis.analyze, "fan-in index")
    cache.score = timed("scoring", cache.score)
    cache.score_many = timed("scoring", cache.score_many)
    allocation.allocate = timed("allocation", allocation.allocate)
    allocation.plan_batch = timed("allocation", allocation.plan_batch)
    secrets.findings = timed("secret findings", secrets.findings)
    cache.save = timed("plan store", cache.save)
    pipeline.plan_key = timed("plan store", pipeline.plan_key)
    intake.read_change = timed("intake", intake.read_change)
    intake.first_parent_changes = timed_iterator("intake", intake.first_parent_changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--range")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    start = cpu()
    from cartriage import allocation, pipeline, report
    from cartriage import config as configuration
    from cartriage.intake import ChangeRequest

    SPENT["start-up (imports)"] = cpu() - start
    startup_mb = peak_mb()
    repo = args.repo.resolve()
    folder = repo / ".git" / "cartriage"
    if args.cold:
        shutil.rmtree(folder, ignore_errors=True)
    for store in [*folder.glob("scores-*"), *folder.glob("plans-*")]:
        store.unlink()
    instrument()
    sample_memory()
    settings = configuration.load(cwd=repo, env={})
    wall, begun = time.perf_counter(), cpu()
    if args.batch:
        results = list(pipeline.triage_batch(repo, f"HEAD~{args.batch}..HEAD", settings))
        allocation.plan_batch([(c.new_rev[:12], f, s) for c, f, s in results], settings)
        what = f"plan --batch HEAD~{args.batch}..HEAD: {len(results)} changes"
    else:
        result = pipeline.plan(ChangeRequest(repo=repo, rev=args.range), settings, once=True)
        timed("report (json)", report.render)(result, "json", settings)
        what = (f"plan {args.range}: {len(result.change.files)} files, "
                f"+{sum(f.added for f in result.change.files):,} "
                f"-{sum(f.removed for f in result.change.files):,} lines, "
                f"{len(result.analysis.units)} units")
    total = cpu() - begun
    SPENT["other"] = total - sum(v for k, v in SPENT.items() if k != "start-up (imports)")
    print(f"{what}; {'cold' if args.cold else 'warm'} index; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"CPU {total + SPENT['start-up (imports)']:.2f} s, wall "
          f"{time.perf_counter() - wall:.2f} s after imports, peak {peak_mb():.0f} MB "
          f"({startup_mb:.0f} MB after imports)\n")
    print("| stage | CPU s | share | peak memory rose by, MB | resident at most / after, MB |"
          "\n|---|---|---|---|---|")
    everything = total + SPENT["start-up (imports)"]
    for stage, seconds in sorted(SPENT.items(), key=lambda item: -item[1]):
        print(f"| {stage} | {seconds:.2f} | {100 * seconds / everything:.0f}% "
              f"| {GREW.get(stage, 0.0):.0f} | {HIGHEST.get(stage, 0.0):.0f} / "
              f"{f'{HELD[stage]:.0f}' if stage in HELD else ''} |")


if __name__ == "__main__":
    main()

"""Before/after timings of the issue-13 speed targets, as whole `cartriage` processes.

    python benchmarks/bench_speed.py --repo PATH --base BASE [--runs 5] [--cases warm,cold,...]

PATH is a git work tree of a real repository (docs/speed.md uses netbox-community/netbox);
BASE is a checkout of the code to compare with (e.g. `git worktree add --detach /tmp/base
$(git merge-base HEAD main)`). Each case runs `python -m cartriage ...` with PYTHONPATH set to
BASE ("before") and to this checkout ("after"), and reports the CPU time (user + system, of
that process and its children, from wait4), the wall time and the peak resident memory, as
min / median / max over the runs. CPU time is the target's measure: other load on the machine
does not count. Cases:

- version: `cartriage --version`.
- warm: `plan SHA^!` of the commit changing about --files files, every cache warm.
- parent: the same commit, caches warm for its parent only (the pre-commit case).
- cold: the same commit, `.git/cartriage/` deleted before each run.
  (parent and cold: before and after take turns run by run, so that drifting load on a shared
  machine weighs on both alike.)
- range: `plan A..B` (a large range), fan-in index warm; without the score and plan caches
  (`.git/cartriage/scores-*`, `plans-*` deleted), then planned again (kept). A fixed
  pure-Python loop is timed before each round ("reference loop"): the machine's own spread.
- bigfile: a commit adding one --big-lines-line Python file, in a repository made here
  (before and after take turns, run by run).
- batch: `plan --batch` over the last --batch first-parent commits; changes per CPU second.
- allocate: `allocate()` of 10,000 synthetic units in one process (benchmarks/bench_allocation).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
from benchmarks.bench_plan import pick_commit  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
ENV["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


def run(code: Path, args: list[str], cwd: Path) -> tuple[float, float, float]:
    """(CPU s, wall s, peak MB) of one `python -m cartriage ARGS` with `code` first on the path."""
    env = {**ENV, "PYTHONPATH": str(code)}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "cartriage", *args], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode not in (0, 1):
        raise SystemExit(f"cartriage {' '.join(args)} failed ({process.returncode}): {error}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def spread(values: list[float], digits: int = 2) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values),
                                                  max(values)))


def report(case: str, variant: str, samples: list[tuple[float, float, float]],
           extra: str = "") -> None:
    cpu, wall, peak = zip(*samples, strict=True)
    print(f"| {case} | {variant} | {len(samples)} | {spread(list(cpu))} | {spread(list(wall))} "
          f"| {max(peak):.0f} |{extra}", flush=True)


def cache_folder(repo: Path) -> Path:
    return repo / git(repo, "rev-parse", "--git-common-dir").strip() / "cartriage"


def variants(args) -> list[tuple[str, Path]]:
    return [("before", args.base.resolve()), ("after", HERE)]


def case_version(args, repo: Path) -> None:
    for name, code in variants(args):
        report("--version", name, [run(code, ["--version"], repo) for _ in range(args.runs)])


def case_warm(args, repo: Path, sha: str) -> None:
    for name, code in variants(args):
        run(code, ["plan", f"{sha}^!", "--format", "json"], repo)  # fill the caches
        report("warm plan", name, [run(code, ["plan", f"{sha}^!", "--format", "json"], repo)
                                   for _ in range(args.runs)])


def case_parent(args, repo: Path, sha: str) -> None:
    """Before and after take turns, run by run (load on a shared machine drifts)."""
    folder = cache_folder(repo)
    saved = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    for name, code in variants(args):
        shutil.rmtree(folder, ignore_errors=True)
        run(code, ["plan", f"{sha}^^!", "--format", "json"], repo)  # the parent, planned
        shutil.copytree(folder, saved / name)
    samples: dict[str, list] = {name: [] for name, _ in variants(args)}
    for _ in range(args.runs):
        for name, code in variants(args):
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(saved / name, folder)
            samples[name].append(run(code, ["plan", f"{sha}^!", "--format", "json"], repo))
    shutil.rmtree(saved)
    for name, values in samples.items():
        report("new commit, cached parent", name, values)


def case_cold(args, repo: Path, sha: str) -> None:
    """Before and after take turns, run by run."""
    folder = cache_folder(repo)
    samples: dict[str, list] = {name: [] for name, _ in variants(args)}
    for _ in range(args.runs):
        for name, code in variants(args):
            shutil.rmtree(folder, ignore_errors=True)
            samples[name].append(run(code, ["plan", f"{sha}^!", "--format", "json"], repo))
    for name, values in samples.items():
        report("cold plan", name, values)


def case_range(args, repo: Path) -> None:
    """Before and after take turns, run by run: each plans the range without the score and
    plan stores, then again from its plan store."""
    folder = cache_folder(repo)
    stat = git(repo, "diff", "--shortstat", *args.range.split("..")).strip()
    command = ["plan", args.range, "--format", "json"]
    for _, code in variants(args):
        run(code, command, repo)  # the fan-in index, built
    first: dict[str, list] = {name: [] for name, _ in variants(args)}
    again: dict[str, list] = {name: [] for name, _ in variants(args)}
    machine = []
    for _ in range(max(1, args.runs // 2)):
        machine.append(reference())
        for name, code in variants(args):
            for store in [*folder.glob("scores-*"), *folder.glob("plans-*")]:
                store.unlink()
            first[name].append(run(code, command, repo))
            again[name].append(run(code, command, repo))
    for name, _ in variants(args):
        report(f"range {args.range}", f"{name}, no score/plan cache", first[name], f" {stat}")
        report(f"range {args.range}", f"{name}, planned before", again[name], f" {stat}")
    report("reference loop", "fixed pure-Python work, before each round", machine)


def reference() -> tuple[float, float, float]:
    """(CPU s, wall s, peak MB) of a fixed pure-Python loop: the same work every time, so its
    spread is the machine's (other load slows a process's CPU time too, on 2 shared cores
    by up to a third), to read the range's spread against."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", REFERENCE])
    _, _, usage = os.wait4(process.pid, 0)
    return (usage.ru_utime + usage.ru_stime, time.perf_counter() - start,
            usage.ru_maxrss / 1024)


REFERENCE = "total = 0\nfor i in range(5_000_000):\n    total += i * i % 7"


def case_bigfile(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-bigfile-"))
    git(folder, "init", "-q")
    lines: list[str] = []
    i = 0
    while len(lines) < args.big_lines:
        lines += [f"class Widget{i}:", f'    """Widget {i}."""', "",
                  f"    def render(self, value, scale={i}):", "        total = value * scale",
                  "        if total > 100:", "            return total - 1", "        return total",
                  "", "    def reset(self):", f"        self.value = {i}", "", ""]
        i += 1
    git(folder, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty",
        "-m", "root")
    (folder / "widgets.py").write_text("\n".join(lines[:args.big_lines]) + "\n")
    git(folder, "add", "widgets.py")
    git(folder, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "widgets")
    samples: dict[str, list] = {name: [] for name, _ in variants(args)}
    for _ in range(max(1, args.runs // 2)):  # before and after take turns, run by run
        for name, code in variants(args):
            shutil.rmtree(folder / ".git" / "cartriage", ignore_errors=True)
            samples[name].append(run(code, ["plan", "HEAD^!", "--format", "json"], folder))
    for name, values in samples.items():
        report(f"{args.big_lines:,}-line new file", name, values)
    shutil.rmtree(folder)


def case_batch(args, repo: Path) -> None:
    for count in sorted({max(1, args.batch // 4), args.batch}):
        command = ["plan", "--batch", f"HEAD~{count}..HEAD", "--format", "json"]
        for name, code in variants(args):
            shutil.rmtree(cache_folder(repo), ignore_errors=True)
            samples = [run(code, command, repo) for _ in range(max(1, args.runs // 4))]
            rate = count / statistics.median(s[0] for s in samples)
            report(f"plan --batch, {count} commits", name, samples,
                   f" {rate:.1f} changes per CPU second")


ALLOCATE = """
import os, statistics, sys, time
from cartriage import allocation, config as configuration  # the variant's, from PYTHONPATH
sys.path.append(sys.argv[1])
from benchmarks.bench_allocation import synthetic
assert allocation.__file__.startswith(os.environ["PYTHONPATH"]), allocation.__file__
analysis, scores = synthetic(10_000)
settings = configuration.load(env={}, overrides={("budget", "tokens"): 3_000_000})
allocation.allocate(analysis, scores, settings)
for _ in range(int(sys.argv[2])):
    cpu, wall = time.process_time(), time.perf_counter()
    allocation.allocate(analysis, scores, settings)
    print(time.process_time() - cpu, time.perf_counter() - wall)
"""


def case_allocate(args) -> None:
    for name, code in variants(args):
        done = subprocess.run([sys.executable, "-c", ALLOCATE, str(HERE), str(args.runs)],
                              cwd=tempfile.gettempdir(),  # not HERE: '' leads sys.path
                              env={**ENV, "PYTHONPATH": str(code),
                                             "OPENBLAS_NUM_THREADS": "1"},
                              capture_output=True, text=True, check=True)
        pairs = [tuple(map(float, line.split())) for line in done.stdout.splitlines()]
        report("allocate() 10,000 units (in process)", name,
               [(cpu, wall, 0.0) for cpu, wall in pairs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--range", default="v4.5.8..HEAD")
    parser.add_argument("--big-lines", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=400)
    parser.add_argument("--cases", default="version,warm,parent,cold,range,bigfile,batch,"
                                           "allocate")
    args = parser.parse_args()
    repo = args.repo.resolve()
    cases = args.cases.split(",")
    sha = pick_commit(repo, args.files)[0] if {"warm", "parent", "cold"} & set(cases) else ""
    tracked = len(git(repo, "ls-files").splitlines())
    print(f"repository {repo.name}: {tracked:,} files; commit {sha[:12]}; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| case | code | runs | CPU s min / median / max | wall s min / median / max "
          "| peak MB |")
    print("|---|---|---|---|---|---|")
    for case in cases:
        if case in ("warm", "parent", "cold"):
            globals()[f"case_{case}"](args, repo, sha)
        elif case in ("range", "batch", "version"):
            globals()[f"case_{case}"](args, repo)
        else:
            globals()[f"case_{case}"](args)


if __name__ == "__main__":
    main()

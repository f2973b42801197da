"""What GitPython would cost where it could serve: opening a repository and resolving a revision
(a plan's cache miss), and reading a batch's commits, against the `git` subprocesses of
`cartriage/intake/git.py`.

    pip install gitpython   # not a dependency of cartriage: this script measures why
    python benchmarks/bench_gitpython.py --repo PATH [--runs 5] [--commits 400]

Each measure runs in a fresh Python process (imports included), --runs times, and prints the
CPU time (user + system, with its git children) and the wall time, min / median / max.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
from benchmarks.bench_speed import spread  # noqa: E402

CASES = {
    "python start-up (reference)": "pass",
    "import git (GitPython)": "import git",
    "open + resolve HEAD~1, GitPython": """
import git
repo = git.Repo(REPO, search_parent_directories=True)
root = repo.working_tree_dir
sha = repo.commit("HEAD~1").hexsha
parent = repo.commit(sha).parents[0].hexsha
""",
    "open + resolve HEAD~1, intake.git": """
from pathlib import Path
from cartriage.intake import git
root = git.open_repo(Path(REPO))
span = git.resolve(root, "HEAD~1^!", False, False)
""",
    "log -p of COMMITS commits, GitPython iter_commits + diff": """
import git
repo = git.Repo(REPO)
size = 0
for commit in repo.iter_commits(f"HEAD~{COMMITS}..HEAD", first_parent=True, reverse=True):
    parent = commit.parents[0] if commit.parents else git.NULL_TREE
    for diff in parent.diff(commit, create_patch=True):
        size += len(diff.diff)
""",
    "log -p of COMMITS commits, intake.git stream": """
from pathlib import Path
from cartriage.intake import git
size = sum(len(diff) for *_, diff in git.first_parent_log(REPO, f"HEAD~{COMMITS}..HEAD"))
""",
}


def measure(code: str, repo: Path) -> tuple[float, float]:
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], cwd=repo,
                               env={**os.environ, "PYTHONPATH": str(HERE)})
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {code}")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--commits", type=int, default=400)
    args = parser.parse_args()
    repo = args.repo.resolve()
    print(f"repository {repo.name}; load average {os.getloadavg()[0]:.1f}\n")
    print("| case | runs | CPU s min / median / max | wall s min / median / max |")
    print("|---|---|---|---|")
    for name, code in CASES.items():
        code = code.replace("REPO", repr(str(repo))).replace("COMMITS", str(args.commits))
        runs = args.runs if "log -p" not in name else max(1, args.runs // 3)
        samples = [measure(code, repo) for _ in range(runs)]
        cpu, wall = zip(*samples, strict=True)
        print(f"| {name.replace('COMMITS', str(args.commits))} | {runs} | {spread(list(cpu), 3)} "
              f"| {spread(list(wall), 3)} |", flush=True)


if __name__ == "__main__":
    main()

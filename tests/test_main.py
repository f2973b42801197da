"""`cartriage --version` is answered before the command line (typer) is imported."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cartriage import __version__
from cartriage.__main__ import BLAS_THREADS, one_blas_thread

ONLY_VERSION = """
import sys
sys.argv = ["cartriage", "--version"]
from cartriage.__main__ import main
main()
print(sorted(m for m in ("typer", "cartriage.cli") if m in sys.modules))
"""


def test_version_alone_does_not_load_the_command_line():
    done = subprocess.run([sys.executable, "-c", ONLY_VERSION], capture_output=True, text=True,
                          check=True)
    assert done.stdout.splitlines() == [f"cartriage {__version__}", "[]"]


def test_anything_else_goes_to_the_command_line():
    done = subprocess.run([sys.executable, "-m", "cartriage", "--version", "--help"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"cartriage {__version__}"
    done = subprocess.run([sys.executable, "-m", "cartriage", "plan", "--format", "nope"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "unknown --format 'nope'" in done.stderr


AS_SCRIPT = """
import atexit, sys
sys.argv = ["cartriage", *sys.argv[1:]]
from cartriage.__main__ import script
atexit.register(print, "exit handler ran")
script()
"""


def test_the_script_flushes_runs_exit_handlers_and_keeps_the_exit_status():
    done = subprocess.run([sys.executable, "-c", AS_SCRIPT, "--version"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [f"cartriage {__version__}", "exit handler ran"]
    done = subprocess.run([sys.executable, "-c", AS_SCRIPT, "plan", "--format", "nope"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "unknown --format 'nope'" in done.stderr
    assert done.stdout == "exit handler ran\n"


def test_the_script_with_stdout_closed_exits_as_python_would():
    command = f'"{sys.executable}" -m cartriage --version >&-'
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr


COLLECTOR = """
import gc, sys
sys.argv = ["cartriage", "config", "--help"]
from cartriage.__main__ import main
try:
    main()
except SystemExit:
    pass
print(gc.isenabled(), gc.get_threshold()[0], gc.get_freeze_count() > 1000)
"""


def test_a_command_runs_with_the_collector_on_every_50000_allocations_and_modules_frozen():
    done = subprocess.run([sys.executable, "-c", COLLECTOR], capture_output=True, text=True,
                          check=True)
    assert done.stdout.splitlines()[-1] == "True 50000 True"


BLAS = """
import os
from cartriage.__main__ import one_blas_thread
one_blas_thread(os.environ)
import numpy, threadpoolctl
print(*{p["num_threads"] for p in threadpoolctl.threadpool_info()
        if p["internal_api"] == "openblas"})
"""


THROUGH_MAIN = """
import os, sys
sys.argv = ["cartriage", "config", "--format", "json"]
from cartriage.__main__ import main
try:
    main()
except SystemExit:
    pass
print(os.environ.get("OPENBLAS_NUM_THREADS"))
"""


@pytest.mark.parametrize(("set_by_user", "threads"), [
    ({}, "1"), ({"OPENBLAS_NUM_THREADS": "2"}, "2"), ({"OMP_NUM_THREADS": "2"}, "2")])
def test_the_command_runs_one_blas_thread_unless_the_user_named_a_count(set_by_user, threads):
    """OpenBLAS threads cost about 60 ms CPU while numpy imports (and spin at each product);
    a count the user set in any variable OpenBLAS reads is kept."""
    pytest.importorskip("threadpoolctl")  # the train extra's
    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREADS} | set_by_user
    done = subprocess.run([sys.executable, "-c", BLAS], env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == [threads]
    environ = dict(set_by_user)
    one_blas_thread(environ)
    assert environ == (set_by_user or {"OPENBLAS_NUM_THREADS": "1"})
    through_main = subprocess.run([sys.executable, "-c", THROUGH_MAIN], env=env,
                                  capture_output=True, text=True, check=True)
    assert through_main.stdout.splitlines()[-1] == str(environ.get("OPENBLAS_NUM_THREADS"))

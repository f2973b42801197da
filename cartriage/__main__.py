"""`python -m cartriage` and the `cartriage` script.

`cartriage --version` alone is answered here, before the command line (typer, ~60-150 ms of
imports) loads; everything else goes to `cartriage.cli`.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from cartriage import __version__

        print(f"cartriage {__version__}")
        return
    one_blas_thread(os.environ)
    # A young collection ran every 700 allocations: about 100 times in a plan (the imports'
    # objects live as long as the process), 25-45 ms CPU. Every 50,000 it runs a few times:
    # cyclic garbage still goes within that many allocations.
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    from cartriage.cli import main as cli_main

    # The modules' objects live as long as the process: kept out of the collector's passes,
    # a cold plan's one full collection (about 60 ms CPU of 1.6-2 s) is not run.
    gc.freeze()
    cli_main()


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def one_blas_thread(environ) -> None:
    """The command runs OpenBLAS on one thread unless the user named a thread count (any of
    BLAS_THREADS, which OpenBLAS reads): set before numpy loads, since OpenBLAS starts a thread
    per core that spins while numpy imports (about 60 ms CPU on 2 cores) and at every product,
    and scoring's products are small. Set for the command only, not for a program that imports
    cartriage; the processes it starts (git) inherit it."""
    if not any(name in environ for name in BLAS_THREADS):
        environ["OPENBLAS_NUM_THREADS"] = "1"


def script() -> None:
    """`main` as a process: once it is done, its output flushed and the exit handlers run, the
    process ends without tearing the interpreter down (freeing every module's objects,
    numpy's and onnxruntime's included: about 80 ms CPU of a cold plan's 1.7-2 s). Not while
    another thread runs, nor for a message as exit status: then Python exits as usual."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is not None and not isinstance(exc.code, int):
            raise
        code = exc.code or 0
    if threading.active_count() > 1 or not _flushed():
        sys.exit(code)
    atexit._run_exitfuncs()  # what Python runs at exit (logging's flush, temporary folders)
    if not _flushed():
        sys.exit(code)
    os._exit(code)


def _flushed() -> bool:
    """Whether stdout and stderr were flushed; not when one is closed (a closed pipe, `>&-`):
    then Python's own exit reports it, or not, as it always did."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return False
    return True


if __name__ == "__main__":
    script()

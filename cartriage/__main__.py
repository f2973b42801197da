"""`python -m cartriage` and the `cartriage` script.

`cartriage --version` alone is answered here, before the command line (typer, ~60-150 ms of
imports) loads; everything else goes to `cartriage.cli`.
"""

from __future__ import annotations

import gc
import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from cartriage import __version__

        print(f"cartriage {__version__}")
        return
    from cartriage.cli import main as cli_main

    # The modules' objects live as long as the process: kept out of the collector's passes,
    # a cold plan's one full collection (about 60 ms CPU of 1.6-2 s) is not run.
    gc.freeze()
    cli_main()


if __name__ == "__main__":
    main()

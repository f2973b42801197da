"""Check the languages' `may_define` on a repository: never False where a definition is.

    python benchmarks/check_may_define.py --repo PATH [--rev HEAD] [--words 50]

For every source file at REV whose language has a `may_define`, outlines the file and checks
that `may_define(file, name)` is True for the last part of every definition's name (what
`context` looks for: `name` or `*.name`). Then, for up to --words other words of the file, how
many files `may_define` spares a parse (and that none of those defines the word). Prints
the counts and each file and name it got wrong; exits 1 when any.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cartriage.analysis import fanin, languages  # noqa: E402
from cartriage.analysis.symbols import outline  # noqa: E402
from cartriage.intake import git  # noqa: E402

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORDS = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--words", type=int, default=50)
    args = parser.parse_args()
    paths = [p for p in git.git(args.repo, "ls-tree", "-r", "-z", "--name-only",
                                args.rev).decode().split("\0")
             if p and languages.detect(p)]
    checked = {p for p in paths
               if hasattr(languages.get(languages.detect(p)).module, "may_define")}
    blobs = fanin.read_paths(args.repo, args.rev, sorted(checked))
    wrong, names, spared, words, spent = [], 0, 0, 0, 0.0
    for path in sorted(blobs):
        data = blobs[path][1]
        language = languages.get(languages.detect(path))
        check = language.module.may_define
        try:
            defined = {d.name.rsplit(".", 1)[-1] for d in outline(language, data).definitions}
        except Exception as exc:  # noqa: BLE001 - a file the grammar rejects is reported
            print(f"{path}: not parsed ({type(exc).__name__})")
            continue
        for name in sorted(n for n in defined if _NAME.fullmatch(n)):
            names += 1
            if not check(data, name):
                wrong.append((path, name))
        others = sorted({w.decode() for w in _WORDS.findall(data)} - defined)[:args.words]
        for name in others:
            start = time.process_time()
            words += 1
            spared += not check(data, name)
            spent += time.process_time() - start
    for path, name in wrong:
        print(f"WRONG: {path} defines {name!r}, may_define says it cannot")
    print(f"{len(blobs)} files, {names} defined names: {len(wrong)} wrong; {words} other "
          f"words: {spared} spared a parse ({spent:.2f} s CPU in may_define)")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())

"""Check that reparsing a changed file from its old tree (`analysis/trees.py`) gives the same
tree and outline as a whole parse, over a repository's first-parent history, and time both.

    python benchmarks/check_reparse.py --repo PATH [--range HEAD~400..HEAD]

Every modified file of a parsed language (up to 1 MB, not minified) of each commit: its old
version is parsed whole, edited with the commit's hunks (as the `git log -p` stream of
`plan --batch` gives them) and reparsed; the new version is parsed whole too. Prints the files
checked, the mismatches (there should be none) and the CPU seconds of the whole parses and of
the reparses, interleaved in one process. Then the new version's outline made from the old
one's (`symbols.outline_edited`, where it applies) is compared with the whole outline, and the
CPU of both is printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--range", default="HEAD~400..HEAD")
    args = parser.parse_args()
    from cartriage import config as configuration
    from cartriage import intake
    from cartriage.analysis import fanin, languages, minified, trees
    from cartriage.analysis.symbols import outline, outline_edited

    repo = args.repo.resolve()
    config = configuration.load(cwd=repo, env={})
    checked = mismatched = edited = 0
    whole_cpu = reparse_cpu = outline_cpu = edited_cpu = 0.0
    outlined = 0
    with fanin.held(str(repo)):
        for change in intake.first_parent_changes(repo, args.range, config):
            files = [(f, lang) for f in change.files
                     if f.status == "modified" and f.hunks and f.old_blob and f.new_blob
                     and (lang := languages.detect(f.path)) is not None]
            blobs = fanin.read_blobs(str(repo), [b for f, _ in files
                                                 for b in (f.old_blob, f.new_blob)])
            for f, lang in files:
                old, new = blobs.get(f.old_blob), blobs.get(f.new_blob)
                if old is None or new is None or max(len(old), len(new)) > 1_000_000 or any(
                        map(minified, (old, new))):
                    continue
                language = languages.get(lang)
                previous = (old, trees.parse(language, old))
                old_outline = outline(language, old, tree=previous[1])
                start = time.process_time()
                reparsed = trees.reparse(language, new, previous, f.hunks)
                edited_now = reparsed is not None
                edited += edited_now
                reparsed = language.parser().parse(new) if reparsed is None else reparsed
                middle = time.process_time()
                whole = language.parser().parse(new)
                reparse_cpu += middle - start
                whole_cpu += time.process_time() - middle
                checked += 1
                start = time.process_time()
                expected = outline(language, new, tree=reparsed)
                middle = time.process_time()
                made = (outline_edited(language, new, reparsed, previous, old_outline, f.hunks)
                        if edited_now else None)
                if made is not None:
                    outline_cpu += middle - start
                    edited_cpu += time.process_time() - middle
                    outlined += 1
                if (str(reparsed.root_node) != str(whole.root_node)
                        or expected != outline(language, new)
                        or made not in (None, expected)):
                    mismatched += 1
                    print(f"mismatch: {change.new_rev[:12]} {f.path}")
    print(f"{args.range} of {repo.name}: {checked} modified files checked, {edited} reparsed "
          f"from edits (the rest parsed whole), {mismatched} mismatches; CPU of the new "
          f"versions' parses: whole {whole_cpu:.2f} s, reparsed {reparse_cpu:.2f} s; "
          f"{outlined} outlines made from the old one's: {edited_cpu:.2f} s, against "
          f"{outline_cpu:.2f} s for the same files' outlines from their trees")


if __name__ == "__main__":
    main()

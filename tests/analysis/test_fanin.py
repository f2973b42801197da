"""The fan-in index: updated from each change, it equals the index built from scratch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cartriage import analysis
from cartriage import config as configuration
from cartriage.analysis import fanin
from cartriage.intake import first_parent_changes

PROJECT = Path(__file__).resolve().parents[2]
MAX_BYTES = 400


def _snapshot(index: fanin.Index) -> dict:
    """Everything analysis reads from an index, as plain sorted data."""
    return {"files": dict(sorted(index.files.items())),
            "fan_in": {p: index.fan_in(p) for p in sorted(index.files)},
            "importers": {k: sorted(v) for k, v in sorted(index.importers.items()) if v},
            "via": {k: sorted(v) for k, v in sorted(index.via_package.items()) if v},
            "symbols": {k: {n: sorted(s) for n, s in sorted(t.items()) if s}
                        for k, t in sorted(index.symbols.items()) if any(t.values())},
            "percentiles": [index.percentile(n) for n in range(12)]}


def _options(config: configuration.Config) -> dict:
    globs = config.get("ignore", "paths") + config.get("ignore", "extra")
    return {"ignored": fanin.ignore_pattern(globs), "workers": 1,
            "max_bytes": config.get("analysis", "max_file_bytes")}


def _from_scratch(root: str, rev: str, extra: dict, options: dict) -> dict:
    """The index of `rev` with nothing kept from an earlier build."""
    fanin._STATES.clear()
    folder = fanin.cache_folder(root)
    (folder / fanin.STATE_FILE).unlink(missing_ok=True)
    return _snapshot(fanin.build(root, rev, extra=extra, **options))


def _deleted(change) -> dict[str, str]:
    """What analysis adds for a change: the files it deletes, still imported."""
    return {f.path: lang for f in change.files
            if f.status == "deleted" and (lang := fanin._language(f.path))}


def _walk(root: str, span: str, config, monkeypatch, check_every: int = 1,
          listed: list | None = None) -> int:
    """Build each commit's index from its parent's, and compare with a build from scratch;
    the titles of the commits whose tree is listed go to `listed`."""
    options = _options(config)
    compared = 0
    for n, change in enumerate(first_parent_changes(Path(root), span, config)):
        extra, base = _deleted(change), analysis._base(change)
        if base is None and listed is not None:
            listed.append(change.title)
        with monkeypatch.context() as patch:
            if n and base is not None:  # from the parent's index: the tree is not listed
                patch.setattr(fanin, "list_tree", _never)
            updated = _snapshot(fanin.build(root, change.new_rev, extra=extra, base=base,
                                            **options))
        if n % check_every == 0:
            state = fanin._STATES[fanin._cache_path(root)]
            assert _from_scratch(root, change.new_rev, extra, options) == updated, change.source
            fanin._STATES[fanin._cache_path(root)] = state  # go on from the updated index
            compared += 1
    return compared


def _never(*args):
    raise AssertionError("the tree was listed")


def _write(repo, files: dict[str, str | None], message: str) -> None:
    for name, content in files.items():
        if content is None:
            (repo.path / name).unlink()
        else:
            repo.write(name, content)
    repo.commit(message)


def test_updated_index_equals_index_from_scratch_through_every_kind_of_change(
        repo, tmp_path, monkeypatch):
    (tmp_path / "cartriage.toml").write_text(f'[ignore]\nextra = ["generated/**"]\n'
                                             f"[analysis]\nmax_file_bytes = {MAX_BYTES}\n")
    config = configuration.load(cwd=tmp_path, explicit=tmp_path / "cartriage.toml", env={})
    _write(repo, {"pkg/__init__.py": "from .core import helper\nfrom .text import *\n",
                  "pkg/core.py": "def helper():\n    return 1\n",
                  "pkg/text.py": "def slug(s):\n    return s\n",
                  "app/a.py": "from pkg import helper\n",
                  "app/b.py": "import pkg.core\nfrom pkg.text import slug\n",
                  "app/c.py": "from . import a\nfrom .b import *\n",
                  "web/index.ts": "export { api } from './api';\n",
                  "web/api.ts": "export function api() { return 1; }\n",
                  "web/app.ts": "import { api } from './index';\n",
                  "README.md": "# demo\n"}, "base")
    _write(repo, {"pkg/extra.py": "from pkg.core import helper\n",  # added, importing
                  "app/d.py": "from pkg.extra import *\nfrom pkg import slug\n",
                  "app/a.py": "from pkg import helper, slug\n"}, "add and edit")
    repo.git("mv", "pkg/core.py", "pkg/engine.py")  # a pure rename: no blob in the diff
    repo.commit("rename: importers of pkg.core now dangle")
    _write(repo, {"pkg/extra.py": None,  # renamed into an ignored folder: the tree is listed
                  "generated/models.py": "from pkg.core import helper\n"}, "ignored rename")
    _write(repo, {"generated/models.py": "from pkg import helper\n",  # ignored, edited:
                  "app/c.py": "from . import a\n"}, "ignored edit")  # the tree is not listed
    _write(repo, {"app/d.py": None,  # deleted while imported
                  "pkg/core.py": "def helper():\n    return 2\n",  # the old name comes back
                  "web/index.ts": None, "README.md": None}, "delete and add back")
    _write(repo, {"pkg/text.py": "x = 1\n" * 100,  # grows past max_file_bytes
                  "app/b.py": "import pkg\n",
                  "lib/pkg/core.py": "VALUE = 1\n",  # a second module answering `pkg.core`
                  "web/index.ts": "export { api } from './api';\n"}, "too big, ambiguous")
    (repo.path / "app/a.py").chmod(0o755)  # a mode change: no blob in the diff
    _write(repo, {"pkg/text.py": "def slug(s):\n    return s.lower()\n",  # small again
                  "lib/pkg/core.py": None, "app/e.py": "from .. import pkg\n"}, "shrink")
    _write(repo, {"pkg/__init__.py": "from .core import helper\nfrom .text import *\nX = 1\n",
                  "app/b.py": "import pkg\n\nY = 2\n"}, "edited, the same imports")
    root, listed = str(repo.path), []
    assert _walk(root, f"{repo.git('rev-list', '--max-parents=0', 'HEAD')}..HEAD", config,
                 monkeypatch, listed=listed) == 8
    assert listed == ["ignored rename"]


def test_a_new_commit_is_indexed_from_its_parents_index_on_disk(repo, tmp_path, monkeypatch):
    repo.commit("base", {"pkg/core.py": "def helper():\n    return 1\n",
                         "app/a.py": "from pkg.core import helper\n"})
    parent = repo.git("rev-parse", "HEAD")
    repo.commit("more", {"app/b.py": "from pkg.core import helper as h\n"})
    root = str(repo.path)
    fanin.build(root, parent)
    fanin._STATES.clear()  # another process: only the file in .git/cartriage is left
    change = next(first_parent_changes(repo.path, f"{parent}..HEAD",
                                       configuration.load(cwd=tmp_path, env={})))
    monkeypatch.setattr(fanin, "list_tree", _never)
    index = fanin.build(root, change.new_rev, base=(parent, change.files))
    assert index.fan_in("pkg/core.py") == 2 and index.stats["parsed"] == 1
    assert index.importers["pkg/core.py"] == {"app/a.py", "app/b.py"}


def test_updated_index_equals_index_from_scratch_on_this_projects_history(tmp_path,
                                                                          monkeypatch):
    if not (PROJECT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(PROJECT), str(clone)],
                   check=True, capture_output=True)
    count = int(subprocess.run(["git", "rev-list", "--first-parent", "--count", "HEAD"],
                               cwd=clone, capture_output=True, text=True, check=True).stdout)
    commits = min(count - 1, 40)
    if commits < 2:
        pytest.skip("a shallow clone: no history to walk")
    config = configuration.load(cwd=tmp_path, env={})
    assert _walk(str(clone), f"HEAD~{commits}..HEAD", config, monkeypatch, check_every=8) >= 1


def test_a_minified_bundle_is_indexed_without_its_imports(repo):
    """Its imports were resolved when it was built: a bundle is no importer of the sources."""
    bundle = "import{a}from'./util';" + "var x=1;" * 3_000  # one 24,000-byte line
    repo.commit("files", {"util.js": "export const a = 1;\n", "bundle.js": bundle,
                          "app.js": "import { a } from './util';\n"})
    index = fanin.build(repo.path, repo.git("rev-parse", "HEAD").strip(), workers=1)
    assert "bundle.js" in index.files
    assert index.importers["util.js"] == {"app.js"}


def test_blobs_read_through_the_kept_reader_equal_blobs_read_at_once(repo):
    """More names than one chunk of the pipe, a missing one and a tree among them."""
    repo.commit("files", {f"pkg/m{n}.py": f"x = {n}\n" * (n + 1) for n in range(400)})
    names = [s for s in repo.git("rev-parse", *(f"HEAD:pkg/m{n}.py" for n in range(400)))
             .split()] + ["0" * 40, repo.git("rev-parse", "HEAD^{tree}").strip()]
    alone = fanin._cat_file(str(repo.path), names)
    with fanin.held(str(repo.path)):
        kept = fanin._cat_file(str(repo.path), names)
        assert fanin._cat_file(str(repo.path), names[:3]) == alone[:3]
    assert kept == alone and alone[-2:] == [None, None]
    assert alone[7] is not None and alone[7][1] == b"x = 7\n" * 8


def test_the_blobs_a_build_read_are_read_again_only_from_git_once_served(repo, monkeypatch):
    """A cold plan's context reads the tree's sources the index has just read: `read_blobs`
    serves those from the build, each once, and asks git only for the others."""
    rev = repo.commit("files", {"a.py": "import b\n", "b.py": "x = 1\n", "c.txt": "c\n"})
    fanin._LAST_READ.pop(str(repo.path), None)
    fanin.build(str(repo.path), rev, workers=1)
    shas = {path: repo.git("rev-parse", f"{rev}:{path}") for path in ("a.py", "b.py", "c.txt")}
    asked: list[list[str]] = []
    cat_file = fanin._cat_file
    monkeypatch.setattr(fanin, "_cat_file", lambda root, names: asked.append(names) or
                        cat_file(root, names))
    everything = sorted(shas.values())
    first = fanin.read_blobs(str(repo.path), everything)
    assert first == {sha: (repo.path / path).read_bytes() for path, sha in shas.items()}
    assert asked == [[shas["c.txt"]]]  # the two Python files came from the build
    assert fanin.read_blobs(str(repo.path), everything) == first
    assert asked[1] == everything  # served once: now from git
    assert str(repo.path) not in fanin._LAST_READ


def test_a_commit_s_tree_is_listed_once_for_the_index_and_context(repo, monkeypatch):
    rev = repo.commit("files", {"a.py": "x = 1\n", "b/c.js": "y;\n"})
    listed = fanin.list_tree(str(repo.path), rev)
    assert sorted(path for path, _, _ in listed) == ["a.py", "b/c.js"]
    monkeypatch.setattr(fanin, "_git", _never)
    again = fanin.list_tree(str(repo.path), rev)
    assert again == listed and again is not listed  # a copy: the caller's to change

"""Context levels built from a real repository: the enclosing definitions from the new file,
the definitions the change calls, the call sites of a changed signature; limits and secrets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cartriage import config as configuration
from cartriage import context, intake, pipeline
from cartriage.intake.change import Hunk

PRICES = '''\
TAX = 0.2


def net(amount, rate):
    """The amount without tax."""
    value = amount / (1 + rate)
    return round(value, 2)


class Basket:
    def __init__(self):
        self.items = []

    def total(self):
        return sum(self.items)
'''

SHOP = '''\
from prices import net


def checkout(basket):
    return net(basket.total(), 0.2)


def refund(amount):
    return net(amount, 0.2)
'''


def triaged(repo, files: dict[str, str]):
    repo.commit("base", {"prices.py": PRICES, "shop.py": SHOP, ".env": "KEY=net(1)\n"})
    repo.commit("change", files)
    settings = configuration.load(cwd=repo.path, env={})
    return pipeline.triage(intake.ChangeRequest(repo=Path(repo.path), rev="HEAD^!"), settings)


def unit_of(facts, path):
    return next(u for u in facts.units if u.path == path)


def test_function_level_shows_the_enclosing_definition_from_the_new_file(repo):
    change, facts, _ = triaged(repo, {"prices.py": PRICES.replace(
        "    return round(value, 2)", "    return round(value, 3)")})
    unit = unit_of(facts, "prices.py")
    assert context.build(change, facts, unit, "hunks") == context.Context("hunks")
    built = context.build(change, facts, unit, "function")
    assert built.level == "function" and not built.note
    assert built.text.splitlines()[0] == "# prices.py lines 4-7: function net"
    assert "     5       \"\"\"The amount without tax.\"\"\"" in built.text
    assert "     7       return round(value, 3)" in built.text  # the new side
    assert "class Basket" not in built.text
    assert built.tokens == context.tokens(built.text) > 0


def test_callers_level_adds_called_definitions_and_call_sites_of_a_changed_signature(repo):
    change, facts, _ = triaged(repo, {"prices.py": PRICES.replace(
        "def net(amount, rate):", "def net(amount, rate, digits):").replace(
        "    return round(value, 2)", "    return round(value, digits)")})
    unit = unit_of(facts, "prices.py")
    built = context.build(change, facts, unit, "callers")
    assert built.level == "callers"
    assert "# call sites of net (its signature changes)" in built.text
    assert "shop.py:5: return net(basket.total(), 0.2)" in built.text
    assert "shop.py:9: return net(amount, 0.2)" in built.text
    assert ".env" not in built.text  # a file that may hold secrets is never read

    change, facts, _ = triaged_again(repo, {"shop.py": SHOP.replace(
        "    return net(amount, 0.2)", "    return net(amount, TAX)")})
    built = context.build(change, facts, unit_of(facts, "shop.py"), "callers")
    assert "# shop.py lines 8-9: function refund" in built.text
    assert "# prices.py lines 4-7: function net" in built.text  # defined in another file
    assert "    6       value = amount / (1 + rate)" in built.text


def triaged_again(repo, files):
    repo.commit("another change", files)
    settings = configuration.load(cwd=repo.path, env={})
    return pipeline.triage(intake.ChangeRequest(repo=Path(repo.path), rev="HEAD^!"), settings)


def test_a_level_over_the_limit_falls_back_and_says_why(repo):
    change, facts, _ = triaged(repo, {"prices.py": PRICES.replace(
        "    return round(value, 2)", "    return round(value, 3)")})
    unit = unit_of(facts, "prices.py")
    small = context.build(change, facts, unit, "function", max_tokens=5)
    assert small.level == "hunks" and small.text == ""
    assert small.note.startswith("function context over 5 tokens")


def test_without_a_repository_or_grammar_there_is_no_context(repo):
    change, facts, _ = triaged(repo, {"notes.txt": "plain text\n"})
    built = context.build(change, facts, unit_of(facts, "notes.txt"), "function")
    assert built == context.Context("hunks", note="function context not built: no tree-sitter "
                                    "grammar for the file")


def test_the_new_file_is_the_old_file_with_the_hunks_applied():
    old = ["a", "b", "c", "d"]
    hunks = (Hunk(2, 1, 2, 2, "", ("-b", "+B", "+B2")), Hunk(4, 0, 6, 1, "", ("+e",)))
    assert context.apply(old, hunks) == ["a", "B", "B2", "c", "d", "e"]
    assert context.apply(["a"], (Hunk(5, 1, 5, 1, "", ("-x", "+y")),)) is None


def test_an_unknown_level_is_refused(repo):
    change, facts, _ = triaged(repo, {"shop.py": SHOP + "\n"})
    with pytest.raises(ValueError, match="unknown context level"):
        context.build(change, facts, facts.units[0], "repository")


def test_a_plan_outlines_each_file_once_for_units_calling_the_same_name(repo, monkeypatch):
    """Units calling the same names share the search and the other files' definitions."""
    calls = {"checkout": "    return net(basket.total(), 0.2)\n",
             "refund": "    return net(amount, 0.2)\n"}
    change, facts, _ = triaged(repo, {
        "shop.py": SHOP, "a.py": "from prices import net\n\n\ndef f(amount):\n"
        + calls["refund"], "b.py": "from prices import net\n\n\ndef g(amount):\n"
        + calls["refund"]})
    from cartriage.analysis import symbols

    outlined = []
    real_outline = symbols.outline
    monkeypatch.setattr(symbols, "outline",
                        lambda spec, data, **kw: outlined.append(data) or real_outline(
                            spec, data, **kw))
    files: dict = {}
    built = [context.build(change, facts, unit_of(facts, path), "callers", files=files)
             for path in ("a.py", "b.py")]
    assert all("# prices.py lines 4-7: function net" in b.text for b in built)
    assert sum(b"def net" in data for data in outlined) <= 1
    assert ("naming", "net", 20) in files  # the sources searched once for the name
    alone = [context.build(change, facts, unit_of(facts, path), "callers")
             for path in ("a.py", "b.py")]
    assert built == alone


def test_a_called_definition_is_found_past_files_that_only_call_it_and_stored(repo):
    """Candidates from `git grep` are read in one go; a file that only calls the name is not
    parsed; the definition comes from the first source file defining it, minified bundles
    left out, and its outline goes to the analysis store for the next plan."""
    from cartriage.analysis import fanin, store

    bundle = "function net(a,b){return a/b}" + ";var x=1" * 3_000  # one 24,000-byte line
    repo.commit("base", {"a_calls.py": "from prices import net\n\nnet(1, 2)\n",
                         "a_bundle.js": bundle, "prices.py": PRICES, "shop.py": SHOP})
    repo.commit("change", {"shop.py": SHOP.replace("net(amount, 0.2)", "net(amount, 0.3)")})
    settings = configuration.load(cwd=repo.path, env={})
    change, facts, _ = pipeline.triage(intake.ChangeRequest(repo=Path(repo.path), rev="HEAD^!"),
                                       settings)
    files: dict = {}
    built = context.build(change, facts, unit_of(facts, "shop.py"), "callers", files=files)
    assert "# prices.py lines 4-7: function net" in built.text
    assert ("defined", "a_calls.py") not in files and ("source", "a_calls.py") in files
    assert ("source", "a_bundle.js") in files and ("defined", "a_bundle.js") not in files
    blob, _ = files[("source", "prices.py")]
    db = store.connect(fanin.cache_folder(repo.path))
    stored = store.get(db, [f"{blob}:python"])
    db.close()
    assert "net" in {d.name for d in stored[f"{blob}:python"].definitions}


@pytest.mark.parametrize("index_after", [0, 1_000])
def test_files_using_a_name_are_those_git_grep_finds(repo, monkeypatch, index_after):
    """The in-memory search of the sources finds what `git grep -w` does, in its order, by
    each file's words (after `index_after` searches) as by a search of the whole text."""
    from cartriage.context import _grep, sources

    monkeypatch.setattr(sources, "WORD_INDEX_AFTER", index_after)

    repo.commit("sources", {
        "a.py": "x = net(1)\n", "a-b/h.py": "net\n", "a/i.py": "y.net = 2\n",
        "b.py": "network = 1\nsubnet = 2\n", "c.py": "_net = net_x = 1\n",
        "d.js": "const v = x.net(1);\n", "e.py": "net\0binary\n", "f.txt": "net\n",
        "g/h.py": "caf\u00e9net = \u00e9net\n", "z.py": "# net\n", "zz.go": "netnet net9\n",
        "zzz.py": "x = 1\n\nnet = 2  # net\nsubnet(net)\r\n\n\nnet\n"})
    settings = configuration.load(cwd=repo.path, env={})
    change = intake.read_change(intake.ChangeRequest(repo=Path(repo.path), rev="HEAD^!"),
                                settings)
    found = sources.read(change, {})
    for name in ("net", "x", "y", "v", "binary", "caf", "subnet", "_net", "net9", "nothing",
                 "x.net", "net ", "2"):
        assert found.naming(name, 20) == _grep(change, "-l", name), name
        assert found.lines_using(name) == _grep(change, "-n", name), name
    assert found.naming("net", 2) == ["a-b/h.py", "a.py"]
    assert (found.using is None) == (index_after > 0)


def test_staged_changes_are_not_read_whole_into_memory(repo):
    """The index lists no sizes: its sources are searched with `git grep --cached`, never read
    all at once; a secret file's old side is not read for context."""
    from cartriage.context import _old_blobs, sources

    repo.commit("base", {"a.py": "x = net(1)\n", ".env": "TOKEN=1\n"})
    (Path(repo.path) / "a.py").write_text("x = net(2)\n")
    (Path(repo.path) / ".env").write_text("TOKEN=2\n")
    subprocess.run(["git", "add", "-A"], cwd=repo.path, check=True)
    settings = configuration.load(cwd=repo.path, env={})
    change = intake.read_change(intake.ChangeRequest(repo=Path(repo.path), staged=True),
                                settings)
    assert sources.read(change, {}) is None
    old = _old_blobs(change)
    assert [data for data in old.values()] == [b"x = net(1)\n"]


def widgets(count: int) -> str:
    return "".join(f'class Widget{i}:\n    """Widget {i}."""\n\n    def render(self, value):\n'
                   f"        return helper(value) * {i}\n\n    def reset(self):\n"
                   f"        self.value = {i}\n\n\n" for i in range(count)) + \
        "def helper(value):\n    return value + 1\n"


def test_units_of_one_large_added_file_reuse_its_stored_outline(repo, monkeypatch):
    """An added file's lines lack its final newline: its outline is still the analysis store's
    (not parsed again), and each unit's context is what a parse of the file gives."""
    from cartriage.analysis import symbols

    repo.commit("base", {"shop.py": SHOP})
    repo.commit("change", {"widgets.py": widgets(400)})
    settings = configuration.load(cwd=repo.path, env={})
    change, facts, _ = pipeline.triage(intake.ChangeRequest(repo=Path(repo.path), rev="HEAD^!"),
                                       settings)
    units = [u for u in facts.units if u.path == "widgets.py"]
    assert len(units) > 3
    outlined = []
    real_outline = symbols.outline
    monkeypatch.setattr(symbols, "outline", lambda spec, data, **kw: outlined.append(data)
                        or real_outline(spec, data, **kw))

    def built() -> list[context.Context]:
        files: dict = {}
        return [context.build(change, facts, unit, level, limit, files=files)
                for limit in (100_000, context.MAX_TOKENS) for unit in units
                for level in ("function", "callers")]

    shared = built()
    assert not any(b"class Widget0" in data for data in outlined)
    assert "lines 1-8: class Widget0" in shared[0].text
    assert "function helper" in shared[1].text
    assert any(b.note.startswith("function context over 3,000 tokens") for b in shared)
    monkeypatch.setattr(context, "_stored", lambda *args: None)
    assert built() == shared
    assert sum(b"class Widget0" in data for data in outlined) == 1

"""Changed symbols per hunk: added, removed, modified, signature changes; full files and hunks."""

from __future__ import annotations

import pytest
from analysis_support import file_change, fixture
from hypothesis import given
from hypothesis import strategies as st

from cartriage.analysis import languages, symbols
from cartriage.analysis.symbols import changed_symbols, fragment_symbols, outline
from cartriage.intake import parse_diff

# fixture -> (text before, text after, qualified symbol whose signature changes)
SIGNATURE_EDITS = {
    "sample.py": ("def login(user, password):", "def login(user, password, otp=None):", "login"),
    "sample.js": ("export function login(user, password) {",
                  "export function login(user, password, otp) {", "login"),
    "sample.ts": ("public get(id: Id): User {", "public get(id: Id, fresh: boolean): User {",
                  "UserService.get"),
    "sample.tsx": ("export function Panel(props: { title: string }) {",
                   "export function Panel(props: { title: string; open: boolean }) {", "Panel"),
    "sample.go": ("func (s *Store) Save(key string, value []byte) error {",
                  "func (s *Store) Save(key string, value []byte, ttl int) error {", "Store.Save"),
    "sample.rs": ("pub fn new(pool: Pool) -> Self", "pub fn new(pool: Pool, size: usize) -> Self",
                  "Store.new"),
    "Sample.java": ("public String greet(String other)",
                    "public String greet(String other, int times)", "Sample.greet"),
    "sample.rb": ("def authenticate(password)", "def authenticate(password, otp)",
                  "Account.authenticate"),
    "sample.c": ("int add(int a, int b)", "long add(int a, int b)", "add"),
    "sample.cpp": ("void Engine::start(int speed) {}", "void Engine::start(int speed, bool w) {}",
                   "app.Engine.start"),
    "Sample.cs": ("public string Issue(string user)", "public string Issue(string user, int t)",
                  "App.Services.TokenService.Issue"),
    "sample.php": ("public function login($request)", "public function login($request, $remember)",
                   "LoginController.login"),
}


def _full(path: str, old: str | None, new: str | None):
    language = languages.get(languages.detect(path))
    change = file_change(path, old, new)
    before = outline(language, old.encode()) if old is not None else None
    after = outline(language, new.encode()) if new is not None else None
    return {s.name: s for s in changed_symbols(change, before, after)}


@pytest.mark.parametrize("name", sorted(SIGNATURE_EDITS))
def test_signature_change_from_full_files(name):
    before, after, symbol = SIGNATURE_EDITS[name]
    old = fixture(name)
    assert before in old
    symbols = _full(name, old, old.replace(before, after))
    assert symbols[symbol].change == "modified"
    assert symbols[symbol].signature_changed
    assert symbols[symbol].public
    assert symbols[symbol].old_signature != symbols[symbol].new_signature
    assert [s for s in symbols.values() if s.signature_changed] == [symbols[symbol]]


@pytest.mark.parametrize("name", sorted(SIGNATURE_EDITS))
def test_signature_change_from_hunks_alone(name):
    before, after, symbol = SIGNATURE_EDITS[name]
    old = fixture(name)
    change = file_change(name, old, old.replace(before, after))
    symbols, _, _ = fragment_symbols(languages.get(languages.detect(name)), change)
    short = symbol.rsplit(".", 1)[-1]
    hits = [s for s in symbols if s.name.rsplit(".", 1)[-1] == short]
    assert hits and hits[0].signature_changed and hits[0].change == "modified"


def test_body_change_is_modified_without_signature_change():
    old = fixture("sample.py")
    new = old.replace("return authenticate(user, password)",
                      "return authenticate(user=user, password=password)")
    symbols = _full("auth/views.py", old, new)
    assert list(symbols) == ["login"]
    assert symbols["login"].change == "modified" and not symbols["login"].signature_changed


def test_added_and_removed_symbols():
    old = fixture("sample.py")
    rotate = "    def rotate(self, key):\n        pass\n\n    def _expire(self):"
    new = old.replace("def logout():\n    pass\n", "").replace("    def _expire(self):", rotate)
    symbols = _full("auth/session.py", old, new)
    assert symbols["logout"].change == "removed"
    assert symbols["Session.rotate"].change == "added"
    assert symbols["Session.rotate"].kind == "method" and symbols["Session.rotate"].public


def test_deleted_file_lists_its_symbols_as_removed():
    symbols = _full("pkg/store.go", fixture("sample.go"), None)
    assert {s.change for s in symbols.values()} == {"removed"}
    assert {"Store", "Store.Save", "New", "helper"} <= set(symbols)


def _git_change(repo, path: str, old: str, new: str):
    """A FileChange from a real `git diff`: its hunk headers name the enclosing function."""
    repo.commit("before", {path: old})
    repo.write(path, new)
    (change,) = parse_diff(repo.git("diff").encode() + b"\n")
    return change


def test_hunk_header_names_the_enclosing_function(repo):
    old = "def handler(request):\n" + "".join(f"    x{i} = {i}\n" for i in range(20))
    change = _git_change(repo, "views.py", old, old.replace("x15 = 15", "x15 = 16"))
    assert change.hunks[0].section.startswith("def handler")
    symbols, _, _ = fragment_symbols(languages.get("python"), change)
    assert [(s.name, s.change, s.public) for s in symbols] == [("handler", "modified", True)]


def test_go_hunk_header_qualifies_methods_by_receiver(repo):
    body = "".join(f"\tx{i} := {i}\n" for i in range(20))
    old = f"package p\n\nfunc (s *Server) handle(w int) {{\n{body}}}\n"
    change = _git_change(repo, "server.go", old, old.replace("x15 := 15", "x15 := 16"))
    symbols, _, _ = fragment_symbols(languages.get("go"), change)
    assert [(s.name, s.kind, s.public) for s in symbols] == [("Server.handle", "method", False)]


def test_one_line_class_and_method_name_the_method():
    change = file_change("web/box.js", "export class Box { open(x) { return x; } }\n",
                         "export class Box { open(x, y) { return x; } }\n")
    symbols, _, _ = fragment_symbols(languages.get("javascript"), change)
    assert [(s.name, s.signature_changed) for s in symbols] == [("Box.open", True)]


def _innermost_by_scan(defs, line):
    best = None
    for d in defs:
        if d.start <= line <= d.end and (best is None or d.end - d.start <= best.end - best.start):
            best = d
    return best


@pytest.mark.parametrize("seed", range(20))
def test_innermost_matches_a_scan_of_every_definition(seed):
    import random

    from cartriage.analysis.symbols import Definition, _innermost_each

    rng = random.Random(seed)
    defs = []
    for i in range(rng.randint(0, 40)):
        start = rng.randint(1, 120)
        defs.append(Definition(f"d{i}", "function", start, start + rng.choice([0, 0, 1, 5, 30]),
                               True, ""))
    defs.sort(key=lambda d: (d.start, -d.end))
    lines = [rng.randint(0, 160) for _ in range(rng.randint(0, 60))]
    assert _innermost_each(defs, lines) == [_innermost_by_scan(defs, n) for n in lines]


def test_a_large_new_file_names_every_definition():
    body = "".join(f"class C{i}:\n    def m(self, x):\n        return x + {i}\n\n"
                   for i in range(3000))
    symbols = _full("big.py", None, body)
    assert len(symbols) == 6000
    assert symbols["C2999.m"].change == "added"


def _deepest(source: bytes) -> int:
    """Bracket depth, one bracket at a time (a closing bracket at depth 0 is ignored)."""
    depth = deepest = 0
    for byte in source:
        if byte in b"([{":
            depth += 1
        elif byte in b")]}":
            depth = max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


@given(st.lists(st.sampled_from([b"(", b")", b"[", b"]", b"{", b"}", b"x", b"\n"]),
                max_size=80).map(b"".join))
def test_nesting_is_the_deepest_bracket_depth(text):
    padding = b"{}" * (symbols.MAX_NESTING + 1)  # past the count below which none is measured
    for source in (text + padding, padding + text, b"(" * 1500 + text + b")" * 1500):
        assert symbols._nesting(source) == _deepest(source)
    assert symbols._nesting(text) == 0

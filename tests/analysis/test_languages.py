"""Per-language fixtures: definitions (qualified, kinds), public/private by convention, imports."""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_support import fixture
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cartriage.analysis import languages
from cartriage.analysis.symbols import outline

# fixture -> (language, {qualified name: (kind, public)}, imports expected among the specs)
CASES = {
    "sample.py": ("python", {
        "Session": ("class", True), "Session.refresh": ("method", True),
        "Session._expire": ("method", False), "login": ("function", True),
        "logout": ("function", False),  # not in __all__
        "_hash": ("function", False),
    }, {"hashlib", "django.contrib.auth", ".models"}),
    "sample.js": ("javascript", {
        "login": ("function", True), "internal": ("function", False),
        "logout": ("function", True), "Session": ("class", True),
        "Session.refresh": ("method", True), "Session.#secret": ("method", False),
        "Hidden": ("class", False),
    }, {"./crypto/hash", "react", "../lib/util"}),
    "sample.ts": ("typescript", {
        "Repo": ("interface", True), "Id": ("type", True), "UserService": ("class", True),
        "UserService.get": ("method", True), "UserService.evict": ("method", False),
        "Level": ("enum", True), "local": ("function", False),
    }, {"@angular/core", "./models/user"}),
    "sample.tsx": ("tsx", {"Panel": ("function", True), "Inner": ("function", False)},
                   {"react", "@/components/button"}),
    "sample.go": ("go", {
        "Store": ("struct", True), "reader": ("interface", False),
        "Store.Save": ("method", True), "Store.load": ("method", False),
        "New": ("function", True), "helper": ("function", False),
    }, {"crypto/sha256", "example.com/app/internal/db"}),
    "sample.rs": ("rust", {
        "Store": ("struct", True), "Private": ("struct", False), "Store.new": ("method", True),
        "Store.reset": ("method", False), "Backend": ("trait", True),
        "Store.put": ("method", True),  # a trait implementation is as public as the trait
        "Mode": ("enum", True), "helper": ("function", False),
    }, {"crate::db::pool::Pool", "std::collections::HashMap", "helpers"}),
    "Sample.java": ("java", {
        "Sample": ("class", True), "Sample.greet": ("method", True),
        "Sample.secret": ("method", False), "Sample.packagePrivate": ("method", False),
        "Api": ("interface", False),
    }, {"java.security.MessageDigest", "com.example.util.Strings"}),
    "sample.rb": ("ruby", {
        "Account": ("class", True), "Account.authenticate": ("method", True),
        "Account.find_by_token": ("method", True), "Account.digest": ("method", False),
        "Billing": ("module", True), "Billing.charge": ("method", True),
        "Billing.refund": ("method", False),
    }, {"bcrypt", "support/helpers"}),
    "sample.c": ("c", {
        "point": ("struct", True), "add": ("function", True), "helper": ("function", False),
        "name": ("function", True),
    }, {"stdio.h", "util/strings.h"}),
    "sample.cpp": ("cpp", {
        "app.Engine": ("class", True), "app.Engine.start": ("method", True),
        "app.Engine.stop": ("method", False), "app.helper": ("function", False),
        "app.Options": ("struct", True),
    }, {"vector", "core/engine.hpp"}),
    "Sample.cs": ("csharp", {
        "App.Services.TokenService": ("class", True),
        "App.Services.TokenService.Issue": ("method", True),
        "App.Services.TokenService.Revoke": ("method", False),
        "App.Services.IStore": ("interface", False),
    }, {"System", "System.Security.Cryptography"}),
    "sample.php": ("php", {
        "LoginController": ("class", True), "LoginController.login": ("method", True),
        "LoginController.check": ("method", False), "LoginController.legacy": ("method", True),
        "helper": ("function", True),
    }, {"App\\Models\\User", "helpers.php"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_definitions_and_imports(name):
    language, expected, imports = CASES[name]
    assert languages.detect(name) == language
    found = outline(languages.get(language), fixture(name).encode())
    assert not found.syntax_error
    definitions = {d.name: (d.kind, d.public) for d in found.definitions}
    for symbol, want in expected.items():
        assert definitions.get(symbol) == want, symbol
    assert imports <= {i.spec for i in found.imports}


def test_imported_names_are_kept():
    found = outline(languages.get("python"), fixture("sample.py").encode())
    assert dict((i.spec, i.symbols) for i in found.imports)[".models"] == ("User", "Group")
    found = outline(languages.get("javascript"), fixture("sample.js").encode())
    assert dict((i.spec, i.symbols) for i in found.imports)["./crypto/hash"] == ("hash", "verify")


def test_python_without_all_uses_underscores():
    source = b"def shown():\n    pass\n\ndef _hidden():\n    pass\n"
    found = outline(languages.get("python"), source)
    assert {d.name: d.public for d in found.definitions} == {"shown": True, "_hidden": False}


def test_nested_functions_are_not_public():
    source = b"def outer():\n    def inner():\n        pass\n"
    found = outline(languages.get("python"), source)
    assert {d.name: d.public for d in found.definitions} == {"outer": True, "outer.inner": False}


@pytest.mark.parametrize("path, language", [
    ("db/schema.sql", "sql"), ("deploy/values.yaml", "yaml"), ("pyproject.toml", "toml"),
    ("package.json", "json"), ("infra/main.tf", "hcl"), ("Dockerfile", "dockerfile"),
    ("docker/Dockerfile.prod", "dockerfile"), ("scripts/run.sh", "shell"),
    ("web/App.vue", "vue"), ("src/app.tsx", "tsx"), ("notes.unknownext", None),
])
def test_recognised_languages(path, language):
    assert languages.recognise(path) == language


@pytest.mark.parametrize(("lang", "source", "expected"), [
    ("rust", b"pub(crate) fn inner() {}\npub fn outer() {}\npub(super) struct Hidden;\n",
     {"inner": False, "outer": True, "Hidden": False}),
    ("go", b"package x\ntype t struct{}\nfunc (v t) Exported() {}\nfunc (v *T) Shown() {}\n"
           b"func (l *List[K]) Push() {}\n",
     {"t": False, "t.Exported": False, "T.Shown": True, "List.Push": True}),
])
def test_restricted_visibility_is_not_public(lang, source, expected):
    found = {d.name: d.public for d in outline(languages.get(lang), source).definitions}
    assert found == expected


def test_go_hunk_headers_see_the_receiver_type():
    go = languages.get("go").module
    assert not go.section_public("Exported", "func (v t) Exported() {")
    assert go.section_public("Shown", "func (v *T) Shown() {")
    rust = languages.get("rust").module
    assert not rust.section_public("f", "pub(crate) fn f() {")


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_query_walk_finds_what_two_find(name):
    language = languages.get(CASES[name][0])
    source = fixture(name).encode()
    both = outline(language, source)
    assert both.definitions == outline(language, source, imports=False).definitions
    assert both.imports == outline(language, source, definitions=False).imports
    assert both.definitions and both.imports


# Python's import scan (`python.import_statements`): the index parses the statements alone.

def _imports(source: bytes, reduce: bool) -> list:
    return outline(languages.get("python"), source, definitions=False, reduce=reduce).imports


SCANNED = [
    b'"""Docs.\n\nimport os\nfrom a import b\n"""\nimport sys\n',
    b"from .models import (  # the models (of this app)\n"
    b"    Site,  # a site\n    Region as R,\n)\n",
    b"from a import b, \\\n    c\nimport x.y as z, w\n",
    b"if TYPE_CHECKING:\n    from typing import Any\nelse:\n    import json\n",
    b"def f():\n    import importlib\n    reimport = important = __import__('x')\n",
    b"s = 'import q'  # import r\nt = r'\\'' ; u = \"import v\"\nfrom . import mod\n",
    b"x = '''\nimport hidden\n''' + \"\"\"it's \\\"\"\" import\"\"\"\nfrom ..pkg import *\n",
    b"from __future__ import annotations\nimport a; b = 1\nimport c; import d\n",
    b"import os\r\nfrom a import (b,\r\n  c)\r\n",
    b"",
    b"x = 1\n",
]
UNSURE = [
    b"try: import ujson as json\nexcept ImportError: import json\n",
    b"from a \\\n    import b\n",
    b"if x: from y import z\n",
]


@pytest.mark.parametrize("source", SCANNED)
def test_python_import_scan_gives_the_whole_parse_s_imports(source):
    assert languages.get("python").module.import_statements(source) is not None
    assert _imports(source, reduce=True) == _imports(source, reduce=False)


@pytest.mark.parametrize("source", UNSURE)
def test_python_imports_the_scan_cannot_place_come_from_the_whole_parse(source):
    assert languages.get("python").module.import_statements(source) is None
    assert _imports(source, reduce=True) == _imports(source, reduce=False) != []


_PIECES = [b"import os\n", b"from a.b import (c,\n    d)  # e\n", b"    import x\n",
           b'"""\n', b"'''\n", b"'", b'"', b"# import y\n", b"from . import z\n", b"\\\n",
           b"if q: import w\n", b"def f():\n", b"x = 'import v'\n", b"import_me = 1\n",
           b"(\n", b")\n", b"\n", b"\\'", b"from .m import n as o, p\n"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_python_import_scan_equals_the_whole_parse_on_any_mix(pieces):
    """On any source that parses: where tree-sitter recovers from errors, its imports are
    guesses the scan need not repeat."""
    source = b"".join(pieces)
    whole = outline(languages.get("python"), source, definitions=False, reduce=False)
    assume(not whole.syntax_error)
    assert _imports(source, reduce=True) == whole.imports


@pytest.mark.parametrize(("source", "expected"), [
    (b"def net(a):\n    pass\n", True), (b"async  def net():\n    pass\n", True),
    (b"class net(Base):\n    pass\n", True), (b"class A:\n    def net(self): ...\n", True),
    (b"def\\\nnet(): ...\n", True),
    (b"net(1)\nx.net = 2\n", False), (b"def network(): ...\n", False),
    (b"undef net\n", False),
])
def test_python_may_define_is_true_wherever_the_parse_finds_a_definition(source, expected):
    python = languages.get("python")
    found = any(d.name.split(".")[-1] == "net" for d in outline(python, source).definitions)
    assert python.module.may_define(source, "net") is expected
    assert found <= expected  # never False where the parse finds one


def test_python_import_scan_equals_the_whole_parse_on_this_project():
    """Every Python file of this repository (benchmarks/check_import_scan.py does the same
    over a repository's whole history)."""
    python = languages.get("python")
    root = Path(__file__).resolve().parents[2]
    sources = [p.read_bytes() for folder in ("cartriage", "tests", "benchmarks")
               for p in sorted((root / folder).rglob("*.py"))]
    assert len(sources) > 100
    for source in sources:
        assert python.module.import_statements(source) is not None
        assert _imports(source, reduce=True) == _imports(source, reduce=False)


_JS_DEFINES = [
    b"function net(a) { }", b"async function* net () {}", b"function /* x */ net(a) {}",
    b"class net extends Base {}", b"class net{}", b"const net = (a) => a;",
    b"let a = 1, net = async x => x;", b"var net = function () {};",
    b"class A { net(a = ')') { } }", b"class A { static async *net(a, b) // c\n {} }",
    b"class A { get net() { return 1 } }", b"export default function net(){}",
    b"const net = /* arrow */ (a) => a;", b"class A { net(a = `(`) {} }",
    b"class A { net(a = /\\)/) {} }", b"class A {\n  // the same way.\n  net (a) {}\n}",
]
_JS_CANNOT = [b"net(1);", b"a.net(b)", b"x = 'net(1)'", b"call(net, 2)", b"a = {net: 1}",
              b"network(1) {}", b"a.net = function () {}", b"if (net == 2) {}",
              b"items.map(net => net.id)", b"$net(1) {}"]
_TS_DEFINES = [b"interface net { a: string }", b"type net<T> = T[];", b"enum net { A }",
               b"namespace a.net { }", b"abstract class net {}",
               b"interface A { net(a: string): void; }", b"interface A { net?(): void }",
               b"declare function net(a: number): string;",
               b"const net: (a: number) => void = (a) => {};", b"class net<T> implements B {}",
               b"abstract class A { abstract net(): void; }", b"function net<T>(a: T) {}"]


@pytest.mark.parametrize(("language", "source", "expected"), [
    *(("javascript", s, True) for s in _JS_DEFINES),
    *(("javascript", s, False) for s in _JS_CANNOT),
    *(("typescript", s, True) for s in _JS_DEFINES + _TS_DEFINES),
    ("typescript", b"x = 'net'; y = a.b;", False), ("typescript", b"net.length", False),
])
def test_javascript_may_define_is_true_wherever_the_parse_finds_a_definition(
        language, source, expected):
    grammar = languages.get(language)
    found = any(d.name.split(".")[-1] == "net" for d in outline(grammar, source).definitions)
    assert found is expected
    assert grammar.module.may_define(source, "net") is expected


_JS_PIECES = [b"function ", b"class ", b"net", b"net ", b"(", b")", b"{", b"}", b"=", b"=>",
              b"a", b".", b",", b";", b"\n", b"'", b'"', b"`", b"/*", b"*/", b"//", b"/",
              b"async ", b"*", b":", b"<", b">", b"?", b"!", b"extends ", b"interface ",
              b"type ", b"\xc2\xa0", b"$", b"#", b"[", b"]", b"static "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_JS_PIECES), max_size=14),
       st.sampled_from(["javascript", "typescript"]))
def test_javascript_may_define_holds_on_any_mix(pieces, language):
    """Also where tree-sitter recovers from syntax errors: a definition of `net` it finds is
    never one `may_define` rules out."""
    source = b"".join(pieces)
    grammar = languages.get(language)
    if any(d.name.split(".")[-1] == "net" for d in outline(grammar, source).definitions):
        assert grammar.module.may_define(source, "net")

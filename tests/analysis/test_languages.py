"""Per-language fixtures: definitions (qualified, kinds), public/private by convention, imports."""

from __future__ import annotations

import pytest
from analysis_support import fixture

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

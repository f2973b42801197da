"""analyze() on a fixture repository: roles with evidence, fan-in, units, degraded inputs."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from analysis_support import diff_only, file_change, fixture
from hypothesis import given, settings
from hypothesis import strategies as st

import cartriage.analysis.symbols as symbols_module
from cartriage import config as configuration
from cartriage.analysis import NO_REPOSITORY, analyze, fanin, file_summary, store, units_for
from cartriage.intake import ChangeRequest, read_change

CORE = "def slugify(text):\n    return text.lower().replace(' ', '-')\n\n\ndef clean(text):\n" \
       "    return text.strip()\n"
AUTH = "import hashlib\n\n\ndef check(password, digest):\n" \
       "    return hashlib.sha256(password.encode()).hexdigest() == digest\n"
MIGRATION = "from django.db import migrations, models\n\n\nclass Migration(migrations.Migration):" \
            "\n    operations = [migrations.AddField('shop', 'sku', models.CharField())]\n"
BASE = {
    "shop/utils/text.py": CORE,
    "shop/accounts/auth.py": AUTH,
    "shop/models.py": "from django.db import models\n\n\nclass Item(models.Model):\n"
                      "    name = models.CharField(max_length=10)\n",
    "shop/templates/shop/item.html": "<h1>{{ item.name }}</h1>\n",
    "docs/index.md": "# Shop\n",
    "tests/test_text.py": "from shop.utils.text import slugify\n\n\ndef test_slugify():\n"
                          "    assert slugify('A b') == 'a-b'\n",
    ".github/workflows/ci.yml": "on: push\n",
    "Dockerfile": "FROM python:3.12\n",
    "requirements.txt": "django\n",
    "config/settings.yaml": "debug: false\n",
    "web/app.ts": "import { api } from './api';\nexport const start = () => api();\n",
    "web/api.ts": "export function api() { return 1; }\n",
}
# Six modules import the core text helpers; one the auth module.
for n in range(6):
    BASE[f"shop/views/v{n}.py"] = f"from shop.utils.text import slugify\n\n\ndef view{n}(x):\n" \
                                  "    return slugify(x)\n"
BASE["shop/views/login.py"] = "from ..accounts import auth\n\n\ndef login(p, d):\n" \
                              "    return auth.check(p, d)\n"


def _config(tmp_path: Path, text: str = "") -> configuration.Config:
    path = tmp_path / "cartriage.toml"
    path.write_text(text, encoding="utf-8")
    return configuration.load(cwd=tmp_path, explicit=path)


def _edit_everything(repo):
    repo.commit("base", BASE)
    edits = {
        "shop/utils/text.py": CORE.replace("def clean(text):", "def clean(text, chars=None):"),
        "shop/accounts/auth.py": AUTH.replace("== digest", "== digest.lower()"),
        "shop/migrations/0002_item_sku.py": MIGRATION,
        "shop/models.py": BASE["shop/models.py"] + "    sku = models.CharField(max_length=5)\n",
        "shop/templates/shop/item.html": "<h1>{{ item.name|title }}</h1>\n",
        "docs/index.md": "# Shop\n\nHow to run.\n",
        "tests/test_text.py": BASE["tests/test_text.py"] + "\n\ndef test_more():\n    pass\n",
        ".github/workflows/ci.yml": "on: [push, pull_request]\n",
        "Dockerfile": "FROM python:3.13\n",
        "requirements.txt": "django>=5\n",
        "config/settings.yaml": "debug: true\n",
        "web/api.ts": "export function api(retries: number) { return retries; }\n",
    }
    return repo.commit("edit", edits)


@pytest.fixture
def analysed(repo, tmp_path):
    _edit_everything(repo)
    config = _config(tmp_path)
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~1"), config)
    return analyze(change, config), change, config


def test_roles_in_fixture_repository(analysed):
    analysis, _, _ = analysed
    roles = {f.path: set(f.role_names) for f in analysis.files}
    assert "migration" in roles["shop/migrations/0002_item_sku.py"]
    assert "security" in roles["shop/accounts/auth.py"]
    assert "schema" in roles["shop/models.py"]
    assert "ui" in roles["shop/templates/shop/item.html"]
    assert "docs" in roles["docs/index.md"]
    assert "tests" in roles["tests/test_text.py"]
    assert "ci" in roles[".github/workflows/ci.yml"]
    assert "infrastructure" in roles["Dockerfile"]
    assert "dependencies" in roles["requirements.txt"]
    assert "config" in roles["config/settings.yaml"]
    assert "core" in roles["shop/utils/text.py"]
    assert "public-api" in roles["shop/utils/text.py"]  # clean() gained a parameter
    assert "core" not in roles["shop/accounts/auth.py"]
    assert "security" not in roles["docs/index.md"]


def test_evidence_says_why(analysed):
    analysis, _, _ = analysed
    auth = analysis.facts("shop/accounts/auth.py")
    evidence = " | ".join(h.evidence for h in auth.roles if h.role == "security")
    assert "imports 'hashlib'" in evidence and "path contains 'auth'" in evidence
    core = next(h for h in analysis.facts("shop/utils/text.py").roles if h.role == "core")
    assert "imported by 7 other files" in core.evidence


def test_fan_in_and_percentile(analysed):
    analysis, _, _ = analysed
    text = analysis.facts("shop/utils/text.py")
    assert text.fan_in == 7  # six views and the test
    assert text.fan_in_percentile >= 90
    assert len(text.importers) == 5 and text.importers[0] == "shop/views/v0.py"  # a sample
    auth = analysis.facts("shop/accounts/auth.py")
    assert auth.fan_in == 1 and auth.importers == ("shop/views/login.py",)  # relative import
    assert analysis.facts("web/api.ts").fan_in == 1  # './api' from web/app.ts
    assert analysis.facts("docs/index.md").fan_in is None  # not source code
    assert analysis.indexed_files == 14  # the Python and TypeScript files
    slugify = {s.name: s for s in text.symbols}["clean"]
    assert slugify.signature_changed and slugify.public


def test_symbols_and_json(analysed):
    analysis, _, _ = analysed
    api = analysis.facts("web/api.ts")
    assert [(s.name, s.public, s.signature_changed) for s in api.symbols] == [
        ("api", True, True)]
    migration = analysis.facts("shop/migrations/0002_item_sku.py")
    assert [(s.name, s.change) for s in migration.symbols] == [("Migration", "added")]
    data = json.loads(json.dumps(asdict(analysis)))
    assert data["files"][0]["roles"][0]["evidence"]
    summary = file_summary(analysis.facts("shop/utils/text.py"))
    assert summary["public_api_changed"] and "core" in summary["roles"]


def test_second_run_uses_the_cache(repo, tmp_path, monkeypatch):
    _edit_everything(repo)
    config = _config(tmp_path)
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~1"), config)
    first = analyze(change, config)
    folder = repo.path / ".git" / "cartriage"
    assert (folder / fanin.CACHE_FILE).is_file() and (folder / store.FILE).is_file()
    new_blob = next(f.new_blob for f in change.files if f.path == "shop/utils/text.py")
    stored = store.get(store.connect(folder), [f"{new_blob}:python"])  # written by the index
    assert [d.name for d in stored[f"{new_blob}:python"].definitions] == ["slugify", "clean"]

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(symbols_module, "outline", no_parsing)  # analyze imports it when used
    again = analyze(change, config)  # every outline comes from the store
    assert any("(0 parsed, the rest cached)" in n for n in again.notes)
    assert again.files == first.files
    monkeypatch.undo()
    assert again.facts("shop/utils/text.py").fan_in == 7
    repo.commit("more", {"shop/views/v9.py": "from shop.utils.text import clean\n"})
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~2"), config)
    third = analyze(change, config)
    assert any("(1 parsed, the rest cached)" in n for n in third.notes)
    assert third.facts("shop/utils/text.py").fan_in == 8


def test_deleted_file_is_analysed_from_old_version_and_keeps_importers(repo, tmp_path):
    repo.commit("base", BASE)
    repo.git("rm", "-q", "shop/utils/text.py")
    repo.commit("delete core")
    config = _config(tmp_path)
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~1"), config)
    facts = analyze(change, config).facts("shop/utils/text.py")
    assert {(s.name, s.change) for s in facts.symbols} == {("slugify", "removed"),
                                                           ("clean", "removed")}
    assert facts.fan_in == 7  # files still importing the deleted module
    assert any("old version" in n for n in facts.notes)


def test_rules_add_roles_and_name_the_rule(analysed, tmp_path):
    _, change, _ = analysed
    config = _config(tmp_path, '[[rules]]\npath = "shop/views/**"\nrole = "payments"\n\n'
                               '[[rules]]\nhas_role = "schema"\nrole = "billing-data"\n')
    edited = analyze(change, config)
    models = edited.facts("shop/models.py")
    hit = next(h for h in models.roles if h.role == "billing-data")
    assert hit.evidence == "added by rules[1] (has_role='schema')"


def test_rules_can_remove_a_role_the_patterns_found(analysed, tmp_path):
    _, change, _ = analysed
    assert "security" in analyze(change, _config(tmp_path)).facts(
        "shop/accounts/auth.py").role_names
    config = _config(tmp_path, '[[rules]]\npath = "shop/accounts/**"\n'
                               'remove_role = "security"\n')
    facts = analyze(change, config).facts("shop/accounts/auth.py")
    assert facts.role_names == () and facts.symbols


def test_diff_without_repository_says_so(tmp_path):
    config = _config(tmp_path)
    old = fixture("sample.py")
    change = diff_only(file_change("accounts/auth.py", old, old.replace(
        "def login(user, password):", "def login(user, password, otp=None):")))
    analysis = analyze(change, config)
    assert NO_REPOSITORY in analysis.notes
    facts = analysis.facts("accounts/auth.py")
    assert facts.fan_in is None and analysis.indexed_files is None
    assert "security" in facts.role_names
    assert [(s.name, s.signature_changed) for s in facts.symbols] == [("login", True)]


def test_degraded_inputs_never_crash(tmp_path):
    config = _config(tmp_path, "[analysis]\nmax_file_bytes = 100\n")
    binary = file_change("assets/logo.png", "x\n", "y\n")
    from dataclasses import replace

    binary = replace(binary, binary=True, hunks=())
    broken = file_change("src/broken.py", None, "def broken(:\n    return (\n")
    unknown = file_change("notes/thing.xyz", None, "whatever\n")
    sql = file_change("db/schema.sql", None, "CREATE TABLE users (id int);\n")
    tf = file_change("infra/main.tf", None, 'resource "x" "y" {}\n')
    analysis = analyze(diff_only(binary, broken, unknown, sql, tf), config)
    facts = {f.path: f for f in analysis.files}
    assert "binary" in facts["assets/logo.png"].notes[0]
    assert "ui" in facts["assets/logo.png"].role_names
    assert any("syntax" in n or "parse" in n for n in facts["src/broken.py"].notes) or \
        facts["src/broken.py"].symbols
    assert "unrecognised" in facts["notes/thing.xyz"].notes[0]
    assert "migration" in facts["db/schema.sql"].role_names
    assert facts["db/schema.sql"].language == "sql"
    assert "infrastructure" in facts["infra/main.tf"].role_names


def test_large_file_degrades_to_path_roles(repo, tmp_path):
    repo.commit("base", {"app/auth.py": "x = 1\n"})
    repo.commit("big", {"app/auth.py": "x = 1\n" + "y = 2\n" * 100})
    config = _config(tmp_path, "[analysis]\nmax_file_bytes = 100\n")
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~1"), config)
    facts = analyze(change, config).facts("app/auth.py")
    assert facts.symbols == () and not facts.parsed
    assert "max_file_bytes" in facts.notes[0]
    assert "security" in facts.role_names


def test_ignored_files_never_become_units(tmp_path):
    config = _config(tmp_path)
    lock = file_change("poetry.lock", "a\n", "b\n")
    code = file_change("app.py", "a = 1\n", "a = 2\n")
    analysis = analyze(diff_only(lock, code), config)
    assert [u.id for u in analysis.units] == ["app.py"]
    assert [f.path for f in analysis.files] == ["app.py"]


def test_large_files_split_into_hunk_groups():
    old = "".join(f"line{i}\n" for i in range(400))
    new = old
    for i in range(0, 400, 40):
        new = new.replace(f"line{i}\n", f"LINE{i}\n")
    change = file_change("big.py", old, new, context=1)
    units = units_for(change, limit=6)
    assert [u.id for u in units] == ["big.py", "big.py#2", "big.py#3", "big.py#4"]
    assert sum(u.added for u in units) == change.added == 10
    assert sorted(i for u in units for i in u.hunks) == list(range(len(change.hunks)))
    assert units_for(change, limit=400)[0].id == "big.py"


def test_an_oversized_single_hunk_is_split_into_units_that_fit():
    from cartriage.analysis import unit_hunks
    from cartriage.review.runner import changed_lines

    new = "".join(f"value_{i} = {i}\n" for i in range(1000))
    change = file_change("generated.py", None, new)
    assert len(change.hunks) == 1 and change.added == 1000
    units = units_for(change, limit=400)
    assert [u.id for u in units] == ["generated.py", "generated.py#2", "generated.py#3"]
    assert [u.added for u in units] == [400, 400, 200]
    sent = [unit_hunks(change, u) for u in units]
    # each slice is a valid hunk: its header counts its lines, numbering continues
    assert [h[0].new_start for h in sent] == [1, 401, 801]
    assert all(h[0].new_count == len(h[0].lines) for h in sent)
    lines = [n for h in sent for n in changed_lines(h)]
    assert lines == list(range(1, 1001))


def test_binary_and_submodule_files_are_units_with_a_skip_reason():
    from dataclasses import replace

    logo = replace(file_change("assets/logo.png", "a\n", "b\n"), binary=True, hunks=(),
                   added=0, removed=0)
    (unit,) = units_for(logo, limit=400)
    assert unit.skip_reason == "binary file: no text to review" and unit.hunks == ()
    code = file_change("app.py", "a = 1\n", "a = 2\n")
    assert units_for(code, limit=400)[0].skip_reason == ""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["+a", "-b", " c", "\\ No newline at end of file", ""]),
                min_size=1, max_size=60), st.data())
def test_a_slice_of_a_hunk_is_numbered_as_counting_its_lines_one_by_one(lines, data):
    from cartriage.analysis import Unit, unit_hunks
    from cartriage.intake.change import FileChange, Hunk

    start = data.draw(st.integers(0, len(lines)))
    end = data.draw(st.integers(start, len(lines)))
    hunk = Hunk(7, 0, 9, 0, "", tuple(lines))
    file = FileChange(path="a.py", old_path=None, status="modified", hunks=(hunk,))
    (got,) = unit_hunks(file, Unit("a.py", "a.py", (0,), 0, 0, (start, end)))
    before, inside = lines[:start], lines[start:end]
    assert (got.old_start, got.new_start, got.old_count, got.new_count, got.lines) == (
        7 + sum(line[:1] in " -" for line in before), 9 + sum(line[:1] in " +" for line in before),
        sum(line[:1] in " -" for line in inside), sum(line[:1] in " +" for line in inside),
        tuple(inside))

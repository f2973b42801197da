"""Role patterns (roles.toml): glob semantics, and real positives kept without word-only hits."""

from __future__ import annotations

import re

import pytest
from analysis_support import diff_only, file_change

from cartriage import config as configuration
from cartriage.analysis import analyze, roles

SAMPLE_PATHS = [
    "README.md", "docs/index.md", "src/app/models.py", "shop/migrations/0002_item.py",
    "db/migrate/20240101_add_users.rb", "a/b/V2__init.sql", "pkg/auth/login.go",
    "web/src/components/Button.tsx", "tests/test_auth.py", "vendor/lib/x.go",
    ".github/workflows/ci.yml", "deploy/k8s/app.yaml", "infra/main.tf", "Dockerfile",
    "docker/Dockerfile.dev", "netbox/templates/dcim/device.html", "package-lock.json",
    "app/Models/User.php", "x/migrations/versions/abc.py", "include/lib/api.h",
    "src/lib.rs", "conftest.py", "app/static/dist/x.min.js", "CHANGELOG.md",
]


def _examples(glob: str) -> list[str]:
    """Paths built from a glob: its stars filled in, in both cases."""
    filled = glob.replace("**/", "a/b/").replace("**", "c/d").replace("*", "e")
    filled = re.sub(r"\[[^]]*\]", "1", filled).replace("?", "z")
    return [filled, filled.upper(), filled.removeprefix("a/b/"), "x" + filled]


def test_globs_match_like_fnmatch_with_optional_double_star():
    globs = {g.text for p in roles.catalogue().patterns for g in (*p.path, *p.not_path)}
    assert len(globs) > 300
    for text in globs:
        glob = roles.Glob(text)
        for path in SAMPLE_PATHS + _examples(text):
            expected = configuration.glob_match(path.lower(), text.lower())
            assert glob.match(path.lower()) == expected, (text, path)


def test_a_path_a_glob_matches_ends_with_its_tail_and_holds_its_needle():
    for pattern in roles.catalogue().patterns:
        for globs, marks in ((pattern.path, pattern.path_marks),
                             (pattern.not_path, pattern.not_path_marks)):
            for glob in globs:
                for path in SAMPLE_PATHS + _examples(glob.text):
                    if glob.match(path.lower()):
                        assert roles._may_hold(path.lower(), marks), (glob.text, path)
                        assert path.lower().endswith(glob.tail) and glob.needle in path.lower()
    assert not roles._may_hold("src/app.py", (("/docs/",), ("docs/",)))


def test_every_regex_of_the_catalogue_compiles():
    for pattern in roles.catalogue().patterns:
        assert pattern.path or pattern.path_re or pattern.language or pattern.needs_content
        for source in (*pattern.path_re, *pattern.text, *pattern.imports):
            re.compile(source)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "cartriage.toml"
    path.write_text("", encoding="utf-8")
    return configuration.load(cwd=tmp_path, explicit=path)


def _roles(config, path: str, text: str) -> set[str]:
    facts = analyze(diff_only(file_change(path, None, text)), config).files[0]
    return set(facts.role_names)


TEST_WITH_FIXTURE_TEXT = '''import hashlib

DIFF = """
+    op.drop_table("users")
+    op.add_column("t", sa.Column("x"))
"""


def test_fingerprint():
    assert hashlib.sha256(DIFF.encode()).hexdigest()
'''


def test_tests_quoting_migrations_and_hashes_are_only_tests(config):
    assert _roles(config, "tests/scoring/test_train.py", TEST_WITH_FIXTURE_TEXT) == {"tests"}


def test_checksums_are_not_security_but_password_hashes_are(config):
    checksum = "import hashlib\n\n\ndef digest(path):\n" \
               "    return hashlib.sha256(path.read_bytes()).hexdigest()\n"
    assert "security" not in _roles(config, "cartriage/scoring/model.py", checksum)
    password = "import hashlib\n\n\ndef store(password, salt):\n" \
               "    return hashlib.pbkdf2_hmac('sha256', password, salt, 100_000)\n"
    assert "security" in _roles(config, "app/users/store.py", password)
    for library in ("jwt", "bcrypt", "passlib.hash", "cryptography.fernet"):
        text = f"import {library}\n\n\ndef f(x):\n    return x\n"
        assert "security" in _roles(config, "app/util.py", text), library


def test_security_imports_are_whole_module_names(config):
    for module in ("ringbuffer", "josefine", "digestive", "xsslint"):
        text = f"import {module}\n\n\ndef f(x):\n    return x\n"
        assert "security" not in _roles(config, "app/util.py", text), module
    go = 'package auth\n\nimport "crypto/subtle"\n\nfunc Same(a, b []byte) bool {\n' \
         '\treturn subtle.ConstantTimeCompare(a, b) == 1\n}\n'
    assert "security" in _roles(config, "pkg/compare/same.go", go)
    js = "const jwt = require('jsonwebtoken');\nexport function sign(u) { return jwt.sign(u); }\n"
    assert "security" in _roles(config, "src/tokens.js", js)


def test_auth_paths_stay_security_even_in_tests(config):
    assert "security" in _roles(config, "app/auth/views.py", "def login(r):\n    return r\n")
    assert "security" in _roles(config, "tests/test_auth.py", "def test_x():\n    pass\n")


def test_migrations_are_found_and_quotes_are_not(config):
    django = "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n" \
             "    operations = []\n"
    assert "migration" in _roles(config, "shop/migrations/0002_item.py", django)
    alembic = 'from alembic import op\n\nrevision = "2b"\ndown_revision = "1a"\n\n\n' \
              'def upgrade():\n    op.add_column("t", None)\n'
    assert "migration" in _roles(config, "alembic/versions/2b_add.py", alembic)
    assert "migration" in _roles(config, "src/db/upgrade_2b.py", alembic)
    rails = "class AddSku < ActiveRecord::Migration[7.1]\n  def change\n" \
            "    add_column :items, :sku, :string\n  end\nend\n"
    assert "migration" in _roles(config, "lib/tasks/add_sku.rb", rails)
    assert "migration" in _roles(config, "db/migrate/20240101_add_sku.rb", rails)
    docs = "# Upgrading\n\nRun `op.drop_table('x')` and ALTER TABLE users ADD x;\n"
    assert _roles(config, "docs/upgrading.md", docs) == {"docs"}
    goose_mention = "module example.com/app\n\nrequire github.com/pressly/goose/v3 v3.0.0\n"
    assert "migration" not in _roles(config, "go.mod", goose_mention)


def test_tables_created_in_code_are_schema_and_altered_ones_migrations(config):
    create = 'SQL = "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY)"\n'
    found = _roles(config, "app/store.py", create)
    assert "schema" in found and "migration" not in found
    alter = 'SQL = "ALTER TABLE users ADD COLUMN age INTEGER"\n'
    assert "migration" in _roles(config, "app/upgrade.py", alter)


def test_liquibase_changelogs_are_migrations_and_changelogs_docs(config):
    liquibase = "databaseChangeLog:\n  - changeSet:\n      id: 1\n"
    assert _roles(config, "db/changelog/db.changelog-master.yaml", liquibase) == {"migration"}
    assert _roles(config, "CHANGELOG.md", "# 1.0\n") == {"docs"}
    assert _roles(config, "docs/CHANGELOG", "1.0\n") == {"docs"}


def test_infrastructure_files(config):
    manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
    assert _roles(config, "k8s/web.yaml", manifest) == {"infrastructure"}
    assert _roles(config, "Dockerfile", "FROM python:3.12\n") == {"infrastructure"}
    assert _roles(config, "infra/main.tf", 'resource "aws_s3_bucket" "b" {}\n') == {
        "infrastructure"}
    assert _roles(config, "config/settings.yaml", "debug: false\n") == {"config"}


def test_graphql_modules_are_api_surface(config):
    assert "public-api" in _roles(config, "netbox/dcim/graphql/filters.py", "X = 1\n")


def test_data_files_quoting_security_calls_are_not_security(config):
    data = "[[pattern]]\ntext = ['check_password', 'mark_safe']\n"
    assert "security" not in _roles(config, "pkg/patterns.toml", data)


def test_security_calls_count_in_changed_lines_only(repo, config):
    from cartriage.intake import ChangeRequest, read_change

    head = "from django.utils.safestring import mark_safe\n\n\ndef title(x):\n    return x\n"
    repo.commit("base", {"app/views.py": head})
    repo.commit("edit", {"app/views.py": head.replace("return x", "return x.title()")})
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~1"), config)
    assert "security" not in analyze(change, config).files[0].role_names
    repo.commit("safe", {"app/views.py": head.replace("return x", "return mark_safe(x)")})
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~1"), config)
    hit = next(h for h in analyze(change, config).files[0].roles if h.role == "security")
    assert "mark_safe" in hit.evidence and "added lines" in hit.evidence


def test_translation_catalogs_are_a_role_of_their_own(config):
    catalog = 'msgid "Save"\nmsgstr "Enregistrer"\n'
    for path in ("src/locale/fr/LC_MESSAGES/django.po", "po/de.po", "web/locales/fr.json",
                 "app/i18n/en.yml"):
        assert _roles(config, path, catalog) == {"translation"}, path
    assert "translation" not in _roles(config, "app/locale/formats.py", "X = 1\n")
    assert roles.default_consequence(("translation",))[0] == "low"
    assert roles.default_consequence(("translation", "security")) is None
    assert roles.default_consequence(()) is None


def test_translation_catalogs_score_low_unless_a_rule_pins_them(tmp_path):
    from cartriage import scoring

    catalog = file_change("src/locale/fr/LC_MESSAGES/django.po", None,
                          'msgid "Delete account"\nmsgstr "Supprimer le compte"\n')
    change = diff_only(catalog)
    plain = configuration.load(cwd=tmp_path, explicit=_write(tmp_path, ""))
    unit = scoring.score(change, analyze(change, plain), plain).units[0]
    assert unit.consequence.tier == "low" and "roles.toml default" in unit.consequence.override
    ruled = configuration.load(cwd=tmp_path, explicit=_write(
        tmp_path, '[[rules]]\nhas_role = "translation"\nconsequence = "medium"\n'))
    unit = scoring.score(change, analyze(change, ruled), ruled).units[0]
    assert unit.consequence.tier == "medium" and unit.consequence.override.startswith("rules[0]")


def _write(tmp_path, text: str):
    path = tmp_path / "cartriage.toml"
    path.write_text(text, encoding="utf-8")
    return path


AUTH_VIEW = """from django.contrib.auth.mixins import LoginRequiredMixin
from django.views.generic import ListView


class DocumentList(LoginRequiredMixin, ListView):
    paginate_by = 25
"""


def test_importing_an_auth_mixin_is_not_a_security_change(repo, config):
    from cartriage.intake import ChangeRequest, read_change

    repo.commit("base", {"app/views.py": AUTH_VIEW})
    repo.commit("page size", {"app/views.py": AUTH_VIEW.replace("25", "50")})
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~1"), config)
    assert "security" not in analyze(change, config).files[0].role_names
    repo.commit("staff only", {"app/views.py": AUTH_VIEW.replace(
        "LoginRequiredMixin, ListView", "LoginRequiredMixin, UserPassesTestMixin, ListView")
        .replace("paginate_by = 50", "paginate_by = 50\n\n    def test_func(self):\n"
                 "        return self.request.user.is_staff")})
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~1"), config)
    hit = next(h for h in analyze(change, config).files[0].roles if h.role == "security")
    assert hit.evidence.startswith("changes access control")


MAIL_PARSER = """import re

from bs4 import BeautifulSoup


def clean_html(html):
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all("script"):
        tag.decompose()
    return str(soup)
"""


def test_a_sanitiser_fix_restricting_image_sources_is_security(repo, config):
    from cartriage.intake import ChangeRequest, read_change

    repo.commit("base", {"paperless_mail/parsers.py": MAIL_PARSER})
    fixed = MAIL_PARSER.replace('    return str(soup)', '    for img in soup.find_all("img"):\n'
                                '        if not img.get("src", "").startswith("cid:"):\n'
                                '            img["src"] = ""  # no remote images\n'
                                '    return str(soup)')
    repo.commit("block remote images", {"paperless_mail/parsers.py": fixed})
    change = read_change(ChangeRequest(repo=repo.path, rev="HEAD~1"), config)
    hit = next(h for h in analyze(change, config).files[0].roles if h.role == "security")
    assert hit.evidence.startswith("restricts HTML or URLs")


@pytest.mark.parametrize("text, generated", [
    ("// Code generated by protoc-gen-go. DO NOT EDIT.\n\npackage x\n", True),
    ("// Code generated by stringer. DO NOT EDIT.", True),
    ("x := 1 // Code generated by stringer. DO NOT EDIT.\n", False),  # not at a line start
    ("// Code generated by stringer. DO NOT EDIT\n", False),
    ("  // Code generated by stringer. DO NOT EDIT.\n", False),
])
def test_the_go_generated_marker_starts_its_line(text, generated):
    (hit,) = [p for p in roles.catalogue().patterns if p.what == "generated file by marker"]
    found = roles._search(hit.text[:1], [("package y\n" * 10 + text, 1, "head")])
    assert (found is not None) == generated
    if generated:
        assert found.startswith("head has '// Code generated by") and found.endswith(" at line 11")

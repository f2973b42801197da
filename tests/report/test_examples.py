"""The shipped examples stay valid: configs load, sample diffs parse, workflows are YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartriage import config
from cartriage.intake import parse_diff

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["webapp", "library"])
def test_example_configs_load(name, tmp_path):
    loaded = config.load(cwd=tmp_path, explicit=ROOT / "examples" / name / "cartriage.toml",
                         env={})
    assert loaded.rules and loaded.get("budget", "tokens")


@pytest.mark.parametrize(("name", "paths"), [
    ("webapp-contacts.patch", {"billing/invoice.py", "shop/models.py",
                               "shop/migrations/0008_contact_drop_phone.py",
                               "shop/templates/shop/customer.html"}),
    ("library-backoff.patch", {"docs/usage.md", "src/tinyretry/core.py", "tests/test_core.py"}),
    ("typo-fix.diff", {"docs/install.md"}),
])
def test_sample_diffs_parse(name, paths):
    files = parse_diff((ROOT / "examples" / "diffs" / name).read_bytes())
    assert {f.path for f in files} == paths


@pytest.mark.parametrize("path", ["hooks/github/cartriage.yml",
                                  "hooks/gitlab/cartriage.gitlab-ci.yml",
                                  "hooks/pre-commit-config.example.yaml"])
def test_integration_files_are_yaml(path):
    yaml = pytest.importorskip("yaml")
    assert yaml.safe_load((ROOT / path).read_text())

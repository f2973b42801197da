"""The wheel's package data: every file the installed package reads at run time is carried."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from cartriage.config import tomllib

ROOT = Path(__file__).resolve().parent.parent
NOT_READ = ("*.py", "*.pyc", "*.md", "*.typed")  # modules, and docs nothing opens at run time


def _patterns() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["tool"]["setuptools"]["package-data"]["*"]


def test_package_data_carries_every_data_file():
    patterns = _patterns()
    data = [Path(folder, name) for folder, _, names in os.walk(ROOT / "cartriage",
                                                                 followlinks=True)  # models/
            for name in names if "__pycache__" not in folder
            and not any(fnmatch.fnmatch(name, p) for p in NOT_READ)]
    assert any(path.suffix == ".npy" for path in data)  # the similar-issue table is found
    missing = [str(path.relative_to(ROOT)) for path in data
               if not any(fnmatch.fnmatch(path.name, p) for p in patterns)]
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"

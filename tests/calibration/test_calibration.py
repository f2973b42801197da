"""The calibration file: validated on load, found by the configuration, used by the allocator."""

from __future__ import annotations

import json

import pytest

from cartriage.allocation import allocate, strategy_table
from cartriage.analysis.facts import Analysis, FileFacts, Unit
from cartriage.calibration import FILE_NAME, PRIOR_UNITS, configured, load
from cartriage.calibration.measure import mean_interval, wilson
from cartriage.config import load as load_config
from cartriage.errors import ConfigError
from cartriage.scoring.scores import Consequence, Difficulty, Scores, UnitScore


def write_calibration(path, single=0.2, multi=0.1, deliberate=None, tiers=None, injected=12):
    strategies = {"single": {"miss": single, "injected": injected, "by_tier": tiers or {}},
                  "multi": {"miss": multi, "injected": injected}}
    if deliberate is not None:
        strategies["deliberate"] = {"miss": deliberate, "injected": injected}
    path.write_text(json.dumps({"version": 1, "model": "openai/test-model", "units": 16,
                                "created": "2026-12-01T00:00:00Z", "strategies": strategies}))
    return path


def test_found_at_the_project_root_or_named_in_the_file(tmp_path):
    (tmp_path / ".git").mkdir()
    assert load_config(cwd=tmp_path, env={}).get("calibration", "file") is None
    write_calibration(tmp_path / FILE_NAME)
    (tmp_path / "sub").mkdir()
    found = load_config(cwd=tmp_path / "sub", env={})
    assert found.get("calibration", "file") == str(tmp_path / FILE_NAME)
    assert found.sources["calibration.file"] == f"found at {tmp_path}"
    (tmp_path / "conf").mkdir()
    write_calibration(tmp_path / "conf" / "mine.json")
    (tmp_path / "conf" / "cartriage.toml").write_text('[calibration]\nfile = "mine.json"\n')
    named = load_config(cwd=tmp_path, explicit=tmp_path / "conf" / "cartriage.toml", env={})
    assert named.get("calibration", "file") == str(tmp_path / "conf" / "mine.json")
    assert configured(named).strategies["single"].miss == 0.2


@pytest.mark.parametrize("content, message", [
    ("not json", "invalid JSON"),
    ('{"version": 2, "strategies": {}}', "'version' must be 1"),
    ('{"version": 1, "strategies": {"best": {"miss": 0.1, "injected": 3}}}',
     "unknown strategy 'strategies.best'"),
    ('{"version": 1, "strategies": {"single": {"miss": 1.5, "injected": 3}}}',
     "'strategies.single.miss' must be a probability"),
    ('{"version": 1, "strategies": {"single": {"miss": 0.5, "injected": 0}}}',
     "'strategies.single.injected' must be a positive integer"),
])
def test_a_bad_file_is_a_config_error_naming_file_and_key(tmp_path, content, message):
    path = tmp_path / "calibration.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as error:
        load(path)
    assert str(path) in str(error.value)
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "missing.json")


def test_measured_misses_replace_the_model_per_tier_where_measured(tmp_path):
    (tmp_path / ".git").mkdir()
    default = strategy_table(load_config(cwd=tmp_path, env={}))
    write_calibration(tmp_path / FILE_NAME, single=0.6, multi=0.0,
                      tiers={"high": {"miss": 0.9, "injected": 4}})
    table = strategy_table(load_config(cwd=tmp_path, env={}))
    names = list(table.names)
    single, multi, deliberate = (names.index(n) for n in ("single", "multi", "deliberate"))

    def weighed(miss, injected, modelled):
        return min(0.99, max(0.01, (miss * injected + modelled * PRIOR_UNITS)
                             / (injected + PRIOR_UNITS)))

    modelled = default.miss_tier
    assert list(table.miss_tier[single]) == pytest.approx(
        [weighed(0.6, 12, modelled[single][0]), weighed(0.6, 12, modelled[single][1]),
         weighed(0.9, 4, modelled[single][2])])  # the high tier has its own measure
    assert list(table.miss_tier[multi]) == pytest.approx(
        [weighed(0.0, 12, m) for m in modelled[multi]])
    # not measured: the model's numbers, scaled by measured / modelled of multi (the nearest)
    assert list(table.miss_tier[deliberate]) == pytest.approx(
        [d * table.miss_tier[multi][t] / modelled[multi][t]
         for t, d in enumerate(modelled[deliberate])])
    write_calibration(tmp_path / FILE_NAME, single=0.9, multi=0.9)  # a weak model
    weak = strategy_table(load_config(cwd=tmp_path, env={}))
    assert weak.miss_tier[deliberate][1] > modelled[deliberate][1]
    assert weak.miss_tier[single][1] > modelled[single][1]
    assert list(table.miss_tier[names.index("skip")]) == [1.0, 1.0, 1.0]
    assert "measured by `cartriage calibrate`" in table.miss_source
    assert default.miss_source is None


def _change(count: int):
    paths = [f"app/m{i}.py" for i in range(count)]
    analysis = Analysis(files=tuple(FileFacts(path=p, language="python") for p in paths),
                        units=tuple(Unit(id=p, path=p, hunks=(0,), added=30, removed=0)
                                    for p in paths))
    scores = Scores(units=tuple(UnitScore(
        p, Consequence("high", {"high": 1.0}, 25.0),
        Difficulty("medium", {"medium": 1.0}, 0.3)) for p in paths),
        change=Consequence("high", {"high": 1.0}, 25.0), model_version="test")
    return analysis, scores


def test_a_calibration_file_changes_the_plan(tmp_path):
    (tmp_path / ".git").mkdir()
    analysis, scores = _change(4)
    before = allocate(analysis, scores, load_config(cwd=tmp_path, env={}))
    # Measured: one pass catches almost everything and extra samples add nothing, so the
    # budget no longer buys deeper strategies.
    write_calibration(tmp_path / FILE_NAME, single=0.05, multi=0.05, deliberate=0.05,
                      injected=400)
    after = allocate(analysis, scores, load_config(cwd=tmp_path, env={}))
    assert {a.strategy for a in before.assignments} != {a.strategy for a in after.assignments}
    assert {a.strategy for a in after.assignments} == {"single"}
    assert after.total_tokens < before.total_tokens
    assert any("measured by `cartriage calibrate`" in note for note in after.notes)
    assert [a.miss_probability for a in after.assignments] == pytest.approx([0.05] * 4, abs=0.01)


def test_intervals():
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0) and wilson(0, 4)[0] == 0.0
    mean, low, high = mean_interval([0, 1, 2])
    assert mean == 1.0 and low == 0.0 and high == pytest.approx(1 + 1.959964 / 3 ** 0.5)


def test_the_allocator_takes_each_strategy_at_its_configured_context_level(tmp_path):
    (tmp_path / FILE_NAME).write_text(json.dumps({
        "version": 1, "model": "m", "units": 8, "created": "now", "strategies": {
            "single@hunks": {"miss": 0.9, "injected": 40},
            "single@function": {"miss": 0.1, "injected": 40}}}))
    (tmp_path / ".git").mkdir()
    config = load_config(cwd=tmp_path, env={})
    measured = configured(config)
    assert measured.strategies["single@function"].context == "function"
    assert measured.measured("single", "callers") is None
    rows = {}
    for level in ("hunks", "function"):
        (tmp_path / "cartriage.toml").write_text(f'[strategies.single]\ncontext = "{level}"\n')
        table = strategy_table(load_config(cwd=tmp_path, env={}), usd=False)
        rows[level] = table.miss_tier[table.names.index("single")]
    assert rows["hunks"][1] > 0.8 > 0.2 > rows["function"][1]
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "strategies": {"single@repo": {"miss": 0.1, "injected": 3}}}')
    with pytest.raises(ConfigError, match="unknown strategy 'strategies.single@repo'"):
        load(bad)

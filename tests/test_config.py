from __future__ import annotations

from pathlib import Path

import pytest

from cartriage import config as configuration
from cartriage.commands.init import template
from cartriage.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(tmp_path):
    config = configuration.load(cwd=tmp_path, env={})
    assert config.get("budget", "tokens") == 100_000
    assert config.get("weights", "high") == 25.0
    assert config.strategy("multi")["samples"] == 3
    assert config.sources["budget.tokens"] == "default"
    assert config.files == ()


def test_precedence_user_project_env_flags(tmp_path):
    home = tmp_path / "xdg"
    write(home / "cartriage" / "config.toml", "[budget]\ntokens = 1000\nusd = 2.0\n")
    project = tmp_path / "proj"
    sub = project / "src" / "deep"
    sub.mkdir(parents=True)
    (project / ".git").mkdir()
    write(project / "cartriage.toml", "[budget]\ntokens = 2000\n[weights]\nhigh = 50\n")
    env = {"XDG_CONFIG_HOME": str(home), "CARTRIAGE_WEIGHTS__HIGH": "60"}
    config = configuration.load(cwd=sub, env=env, overrides={("llm", "model"): "openai/x"})
    assert config.get("budget", "usd") == 2.0
    assert config.sources["budget.usd"].endswith("config.toml")
    assert config.get("budget", "tokens") == 2000
    assert config.sources["budget.tokens"] == str(project / "cartriage.toml")
    assert config.get("weights", "high") == 60.0
    assert config.sources["weights.high"] == "environment $CARTRIAGE_WEIGHTS__HIGH"
    assert config.get("llm", "model") == "openai/x"
    assert config.sources["llm.model"] == "command line"


def test_pyproject_tool_table_and_lookup_stops_at_repository_root(tmp_path):
    write(tmp_path / "cartriage.toml", "[budget]\ntokens = 7\n")  # above the repository
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    assert configuration.load(cwd=repo, env={}).get("budget", "tokens") == 100_000
    write(repo / "pyproject.toml", "[project]\nname='x'\n[tool.cartriage.budget]\ntokens = 9\n")
    config = configuration.load(cwd=repo, env={})
    assert config.get("budget", "tokens") == 9
    assert config.sources["budget.tokens"].endswith("pyproject.toml [tool.cartriage]")


def test_strategies_rules_and_env_for_nested_keys(tmp_path):
    write(tmp_path / "cartriage.toml", """
[strategies.multi]
samples = 4
models = ["openai/a", "anthropic/b"]

[[rules]]
path = "billing/**"
consequence = "high"

[[rules]]
has_role = "migration"
min_strategy = "single"
""")
    env = {"CARTRIAGE_STRATEGIES__DELIBERATE__SAMPLES": "5"}
    config = configuration.load(cwd=tmp_path, env=env)
    assert config.strategy("multi")["models"] == ["openai/a", "anthropic/b"]
    assert config.strategy("deliberate")["samples"] == 5
    billing, migrations = config.rules
    assert billing.matches("billing/invoice.py") and not billing.matches("api/x.py")
    assert migrations.matches("db/0001.py", ("migration",))
    assert not migrations.matches("db/0001.py", ("tests",))
    assert "billing/**" in billing.describe()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[budgett]\ntokens = 1\n", "unknown section [budgett] (did you mean 'budget'?)"),
        ("[budget]\ntokenz = 1\n", "unknown key 'budget.tokenz' (did you mean 'budget.tokens'?)"),
        ("[budget]\ntokens = \"lots\"\n", "'budget.tokens' must be an integer, got str 'lots'"),
        ("[llm]\ncache = \"false\"\n", "'llm.cache' must be a boolean, got str 'false'"),
        ("[review]\nfail_on = \"majr\"\n", "must be one of critical, major, minor, never, got "
         "'majr' (did you mean 'major'?)"),
        ("[weights]\nhigh = -1\n", "'weights.high' must be at least 0"),
        ("[strategies.mult]\nsamples = 2\n", "unknown strategy [strategies.mult] (did you mean "
         "'multi'?)"),
        ("[[rules]]\nconsequence = \"high\"\n", "rules[0] needs 'path' or 'has_role'"),
        ("[[rules]]\npath = \"a/**\"\nconsequense = \"high\"\n",
         "unknown key 'rules[0].consequense' (did you mean 'consequence'?)"),
        ("[budget\n", "invalid TOML"),
    ],
)
def test_invalid_files_name_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path / "cartriage.toml", text)
    with pytest.raises(ConfigError) as info:
        configuration.load(cwd=tmp_path, env={})
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_invalid_environment_value(tmp_path):
    with pytest.raises(ConfigError, match=r"\$CARTRIAGE_LLM__CACHE: 'llm.cache' must be a boolean"):
        configuration.load(cwd=tmp_path, env={"CARTRIAGE_LLM__CACHE": "maybe"})
    with pytest.raises(ConfigError, match="unknown key 'budget.tokes'"):
        configuration.load(cwd=tmp_path, env={"CARTRIAGE_BUDGET__TOKES": "1"})


def test_explicit_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        configuration.load(cwd=tmp_path, explicit=tmp_path / "nope.toml", env={})


def test_ignore_globs(tmp_path):
    config = configuration.load(cwd=tmp_path, env={})
    assert config.ignored("poetry.lock") and config.ignored("web/package-lock.json")
    assert config.ignored("vendor/x/y.go") and config.ignored("a/node_modules/b.js")
    assert not config.ignored("src/app.py")


def test_ignore_globs_in_one_regex_match_what_each_glob_matches(tmp_path):
    write(tmp_path / "cartriage.toml", '[ignore]\nextra = ["**/gen/**/*.py", "docs/*.md", '
          '"**/**/x[0-9].c", "*.lock"]\n')
    config = configuration.load(cwd=tmp_path, env={})
    globs = config.get("ignore", "paths") + config.get("ignore", "extra")
    paths = ["gen/a.py", "src/gen/b/c.py", "docs/a.md", "docs/x/a.md", "x1.c", "a/b/x2.c",
             "a/x12.c", "poetry.lock", "a/b.lock", "vendor/v.go", "src/vendor/v.go",
             "a.min.js", "src/app.py", "generated.py", "docs.md"]
    for path in paths:
        assert config.ignored(path) == any(configuration.glob_match(path, g) for g in globs), path
    assert [p for p in paths if config.ignored(p)] == [  # fnmatch's `*` matches `/` too
        "src/gen/b/c.py", "docs/a.md", "docs/x/a.md", "x1.c", "a/b/x2.c", "poetry.lock",
        "a/b.lock", "vendor/v.go", "src/vendor/v.go", "a.min.js"]


def test_init_template_is_valid_and_loads_to_the_defaults(tmp_path):
    path = write(tmp_path / "cartriage.toml", template())
    config = configuration.load(cwd=tmp_path, env={})
    defaults = configuration.load(cwd=tmp_path / "elsewhere", env={})
    assert config.files == (str(path),)
    assert config.sections == defaults.sections and config.strategies == defaults.strategies
    assert [r.has_role for r in config.rules] == ["migration"]
    for section, keys in configuration.SCHEMA.items():
        assert f"[{section}]" in template()
        for key in keys:
            assert f"# {key} = " in template() or f"\n# {key} = [" in template()


def test_context_levels_default_by_depth_and_are_validated(tmp_path):
    config = configuration.load(cwd=tmp_path, env={})
    assert [config.strategy(n)["context"] for n in ("single", "multi", "deliberate")] == [
        "hunks", "function", "callers"]
    write(tmp_path / "cartriage.toml", '[strategies.single]\ncontext = "callers"\n')
    assert configuration.load(cwd=tmp_path, env={}).strategy("single")["context"] == "callers"
    write(tmp_path / "cartriage.toml", '[strategies.multi]\ncontext = "repository"\n')
    with pytest.raises(ConfigError, match=r"cartriage.toml: 'strategies.multi.context' must be "
                                          r"one of hunks, function, callers"):
        configuration.load(cwd=tmp_path, env={})

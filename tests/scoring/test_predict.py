import itertools
from pathlib import Path

import numpy as np

from cartriage import config as configuration
from cartriage.analysis import analyze
from cartriage.scoring import decision, model, predict_records, score
from cartriage.scoring.records import to_change
from cartriage.scoring.scores import TIERS
from tests.scoring.helpers import record


def _config(tmp_path: Path, text: str = ""):
    path = tmp_path / "cartriage.toml"
    path.write_text(text)
    return configuration.load(cwd=tmp_path, explicit=path, env={"XDG_CONFIG_HOME": "/x"})


MIXED = record("m1", "Add invoice export and fix typo in README", {
    "billing/invoices.py": ["def export(invoice):", "    return invoice.total"],
    "README.md": ["Fix a typo"],
})


def _score(config):
    change = to_change(MIXED, config)
    return score(change, analyze(change, config), config)


def test_units_and_change_carry_probabilities_and_expected_weight(tmp_path):
    scores = _score(_config(tmp_path))
    assert [u.unit_id for u in scores.units] == ["billing/invoices.py", "README.md"]
    for unit in scores.units:
        c, d = unit.consequence, unit.difficulty
        assert abs(sum(c.probabilities.values()) - 1) < 1e-3
        expected = sum(c.probabilities[t] * w for t, w in zip(TIERS, (1, 5, 25), strict=True))
        assert abs(c.expected_weight - expected) < 1e-2
        assert 0 < d.defect_probability < 1 and d.tier in TIERS
        assert c.top_features and all(v > 0 for _, v in c.top_features)
    assert scores.mode == "diff" and scores.difficulty is not None


def test_change_is_its_riskiest_unit_not_the_average(tmp_path):
    scores = _score(_config(tmp_path))
    highs = [u.consequence.probabilities["high"] for u in scores.units]
    lows = [u.consequence.probabilities["low"] for u in scores.units]
    assert scores.change.probabilities["high"] == max(highs)
    assert scores.change.probabilities["low"] == min(lows)
    assert scores.change.expected_weight >= max(u.consequence.expected_weight
                                                for u in scores.units)
    assert TIERS.index(scores.change.tier) == max(TIERS.index(u.consequence.tier)
                                                  for u in scores.units)


def test_decision_rule_is_a_cost_weighted_argmax():
    rule = model.load("consequence").rule
    assert rule.low > 0 and rule.high > 0
    row = (0.4, 0.35, 0.25)
    assert decision.tier(row, decision.Rule(1.0, 1.0)) == "low"
    assert decision.tier(row, decision.Rule(1.0, 2.0)) == "high"
    assert decision.tier(row, decision.Rule(0.5, 1.0)) == "medium"
    rng = np.random.default_rng(7)
    for r in rng.dirichlet([1, 1, 1], size=200):
        assert decision.tier(r, decision.Rule(1.0, 1.0)) == TIERS[int(np.argmax(r))]


def test_a_tests_or_docs_unit_has_its_own_weight_of_p_low():
    rule = decision.Rule(0.25, 2.0, minor=3.0)
    assert decision.Rule.from_dict(rule.to_dict()) == rule
    assert decision.Rule.from_dict({"low": 0.25, "high": 2.0}).minor is None
    unit = decision.minor_unit((0.3, 0.5, 0.2))  # (0.3, 0.7, 0.0)
    assert decision.tier(unit, rule) == "medium"  # the ordinary rule: 0.075 < 0.7
    assert decision.tier(unit, rule, minor=True) == "low"  # 0.9 >= 0.7
    assert decision.tier((0.2, 0.8, 0.0), rule, minor=True) == "medium"
    assert decision.tier((0.3, 0.2, 0.5), rule, minor=True) == "low"  # never high
    assert decision.tier(unit, decision.Rule(0.25, 2.0), minor=True) == "medium"


def test_rule_pins_a_tier_and_is_shown_as_override(tmp_path):
    config = _config(tmp_path, '[[rules]]\npath = "billing/**"\nconsequence = "high"\n'
                               '[[rules]]\npath = "*.md"\nconsequence = "low"\n')
    scores = _score(config)
    billing, readme = scores.units
    assert billing.consequence.tier == "high"
    assert billing.consequence.override == "rules[0] (path='billing/**')"
    assert billing.consequence.expected_weight == 25.0
    assert readme.consequence.tier == "low" and readme.consequence.override.startswith("rules[1]")
    assert scores.change.tier == "high" and scores.change.probabilities["high"] == 1.0


def test_issue_only_change_uses_the_text_model(tmp_path):
    config = _config(tmp_path)
    change = to_change(record("i1", "Users lose data when the migration drops a column"), config)
    scores = score(change, analyze(change, config), config)
    assert scores.mode == "issue" and scores.units == ()
    assert "consequence-issue@" in scores.model_version
    assert scores.change.tier in TIERS and scores.difficulty is not None


def test_predict_records_never_reads_labels_or_signals(tmp_path):
    config = _config(tmp_path)
    base = dict(MIXED)
    variants = [dict(base, labels={"consequence": c, "difficulty": d}, signals={"reverted": r})
                for c, d, r in itertools.product(("low", "high"), ("low", "high"), (True, False))]
    scored = predict_records([base, *variants], config)
    assert all(s == scored[0] for s in scored)
    assert scored[0].error is None and scored[0].id == "acme/app@m1"
    assert scored[0].consequence.tier in TIERS and scored[0].difficulty.tier in TIERS
    assert scored[0].mode == "diff" and scored[0].units == 2


AUTH_WITH_TESTS = record("a1", "Check the session token before every admin request", {
    "app/auth/session.py": ["def check(request):", "    token = request.headers['Token']",
                            "    if not verify(token):", "        raise PermissionDenied()"],
    "tests/test_session.py": ["def test_check_rejects_a_forged_token(client):",
                              "    assert client.get('/admin', token='x').status_code == 403"],
    "docs/security.md": ["Admin requests need a valid session token."],
})


def test_a_tests_or_docs_unit_is_decided_on_its_own_never_high(tmp_path):
    config = _config(tmp_path)
    change = to_change(AUTH_WITH_TESTS, config)
    scores = score(change, analyze(change, config), config)
    auth, tests, docs = (scores.unit(u) for u in ("app/auth/session.py", "tests/test_session.py",
                                                  "docs/security.md"))
    rule = model.load("consequence").rule
    assert rule.minor is not None  # the shipped card has the tests/docs weight
    for minor in (tests, docs):
        assert minor.consequence.probabilities["high"] == 0.0
        assert minor.consequence.tier != "high" and minor.consequence.override is None
        p_low, p_medium, _ = (minor.consequence.probabilities[t] for t in TIERS)
        assert minor.consequence.tier == ("low" if rule.minor * p_low >= p_medium else "medium")
    assert scores.change.probabilities["high"] == auth.consequence.probabilities["high"] > 0
    assert scores.change.tier == auth.consequence.tier


def test_a_rule_pin_still_wins_over_the_tests_unit_decision(tmp_path):
    config = _config(tmp_path, '[[rules]]\npath = "tests/**"\nconsequence = "high"\n')
    change = to_change(AUTH_WITH_TESTS, config)
    scores = score(change, analyze(change, config), config)
    tests = scores.unit("tests/test_session.py").consequence
    assert tests.tier == "high" and tests.override.startswith("rules[0]")
    assert scores.change.tier == "high"


def test_predict_records_in_batches_matches_scoring_one_record_at_a_time(tmp_path, monkeypatch):
    from cartriage.scoring import predict

    config = _config(tmp_path)
    issue = record("i1", "Login page crashes when the session cookie expires")
    rows = [MIXED, AUTH_WITH_TESTS, "not an object", issue,
            record("d1", "Document the export " + "format " * 300, {"docs/export.md": ["x"]})]
    monkeypatch.setattr(predict, "CHUNK", 2)  # chunks end mid-list and around the bad record
    batched = predict_records(rows, config)
    assert batched[2].error == "not a JSON object"
    for row, got in zip(rows, batched, strict=True):
        if not isinstance(row, dict):
            continue
        change = to_change(row, config)
        alone = score(change, analyze(change, config), config)  # its own encoder pass
        assert got.mode == alone.mode and got.units == len(alone.units)
        assert got.consequence.tier == alone.change.tier
        for name in TIERS:
            assert abs(got.consequence.probabilities[name]
                       - alone.change.probabilities[name]) < 2e-4
            assert abs(got.difficulty.probabilities[name]
                       - alone.difficulty.probabilities[name]) < 2e-4


def _close(a, b) -> bool:
    """Two consequences or difficulties alike up to the encoder's padding (float tolerance)."""
    return a.tier == b.tier and all(abs(a.probabilities[t] - b.probabilities[t]) < 2e-4
                                    for t in TIERS)


def test_score_many_equals_scoring_each_change_alone(tmp_path, monkeypatch):
    from cartriage.scoring import predict
    from cartriage.scoring.predict import score_many

    config = _config(tmp_path, '[[rules]]\npath = "billing/**"\nconsequence = "high"\n')
    rows = [MIXED, AUTH_WITH_TESTS, record("i1", "Login page crashes when the cookie expires"),
            record("d1", "Document the export " + "format " * 300, {"docs/export.md": ["x"]}),
            AUTH_WITH_TESTS]
    changes = [to_change(r, config) for r in rows]
    pairs = [(c, analyze(c, config)) for c in changes]
    together = score_many(pairs, config)
    assert score_many([], config) == []
    for (change, facts), got in zip(pairs, together, strict=True):
        alone = score(change, facts, config)
        assert got.mode == alone.mode and got.model_version == alone.model_version
        assert _close(got.change, alone.change) and got.change.override == alone.change.override
        assert _close(got.difficulty, alone.difficulty)
        assert [u.unit_id for u in got.units] == [u.unit_id for u in alone.units]
        for a, b in zip(got.units, alone.units, strict=True):
            assert _close(a.consequence, b.consequence) and _close(a.difficulty, b.difficulty)
            assert a.consequence.override == b.consequence.override
            assert [n for n, _ in a.consequence.top_features] == [
                n for n, _ in b.consequence.top_features]
    assert together[0].unit("billing/invoices.py").consequence.override.startswith("rules[0]")
    assert together[2].mode == "issue" and together[1] == together[4]
    monkeypatch.setattr(predict, "ROWS", 2)  # the models run on two feature rows at a time
    for a, b in zip(score_many(pairs, config), together, strict=True):
        assert _close(a.change, b.change) and _close(a.difficulty, b.difficulty)
        assert all(_close(x.difficulty, y.difficulty) and _close(x.consequence, y.consequence)
                   for x, y in zip(a.units, b.units, strict=True))


def test_a_record_that_fails_to_score_keeps_its_error_and_the_others_are_scored(tmp_path,
                                                                                 monkeypatch):
    from cartriage.errors import CartriageError
    from cartriage.scoring import predict

    config = _config(tmp_path)
    real = predict._prepare

    def prepare(change, analysis):
        if change.title.startswith("Broken"):
            raise CartriageError("cannot read this record's diff")
        return real(change, analysis)

    monkeypatch.setattr(predict, "_prepare", prepare)
    rows = [MIXED, record("b1", "Broken record", {"app/x.py": ["x = 1"]}), AUTH_WITH_TESTS]
    scored = predict_records(rows, config)
    assert scored[1].error == "cannot read this record's diff" and scored[1].id == "acme/app@b1"
    assert scored[0] == predict_records([MIXED], config)[0]
    assert scored[2].error is None and scored[2].consequence.tier in TIERS

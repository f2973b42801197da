import numpy as np

from cartriage.scoring import decision, validation


def test_choose_minor_weights_p_low_of_tests_docs_records_without_more_highs_low():
    rule = decision.Rule(0.25, 1.0)
    # Ordinary records, then tests/docs-only records (p_high 0): mostly low at p_low 0.45-0.6.
    P = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.1, 0.3, 0.6]] * 4
                 + [[0.6, 0.4, 0.0], [0.5, 0.5, 0.0], [0.45, 0.55, 0.0], [0.15, 0.85, 0.0]])
    y = np.array([0, 1, 2] * 4 + [0, 0, 0, 1])
    minor = np.array([False] * 12 + [True] * 4)
    chosen = validation.choose_minor(P, y, minor, rule)
    assert (chosen.low, chosen.high) == (rule.low, rule.high) and chosen.minor is not None
    pred = validation.apply(P, chosen, minor)
    assert list(validation.apply(P, rule)[12:]) == [1, 1, 1, 1]
    assert list(pred[12:]) == [0, 0, 0, 1]
    assert validation.macro_f1(y, pred) > validation.macro_f1(y, validation.apply(P, rule))
    # A high tests/docs-only record must not be turned low to win macro-F1 elsewhere.
    y_high = y.copy()
    y_high[14] = 2
    guarded = validation.choose_minor(P, y_high, minor, rule)
    assert validation.apply(P, guarded, minor)[14] != 0


def test_per_fold_is_the_macro_f1_of_each_held_out_fold():
    y = np.array([0, 1, 2, 0, 1, 2])
    pred = np.array([0, 1, 2, 1, 1, 1])
    fold = np.array([0, 0, 0, 1, 1, 1])
    assert validation.per_fold(y, pred, fold) == [1.0, round(validation.macro_f1(
        y[3:], pred[3:]), 4)]
    assert validation.per_fold(y, pred, fold)[1] < 1.0

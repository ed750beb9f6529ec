"""The two-proportion test, against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from mmapi.analytics import two_proportion_test


def test_two_proportion_test_hand_computed():
    # 920/1000 vs 860/1000: d = 0.06, se = sqrt(.92*.08/1000 + .86*.14/1000) = 0.0139284,
    # pooled p = 0.89, z = 0.06 / sqrt(.89*.11*2/1000) = 4.28797, p = 2*(1 - Phi(z)).
    test = two_proportion_test(920, 1000, 860, 1000, min_arm_size=1000)

    assert test.verdict == "higher"
    assert test.difference == pytest.approx(0.06)
    assert test.ci_low == pytest.approx(0.06 - 1.959964 * 0.0139284, abs=1e-6)
    assert test.ci_high == pytest.approx(0.06 + 1.959964 * 0.0139284, abs=1e-6)
    assert test.relative_lift == pytest.approx(0.06 / 0.86)
    assert test.z == pytest.approx(4.28797, abs=1e-4)
    assert test.p_value == pytest.approx(1.8035e-5, rel=1e-3)


def test_two_proportion_test_small_arms_inconclusive_keeps_interval():
    test = two_proportion_test(920, 1000, 860, 1000)  # below 100k per arm

    assert test.verdict == "inconclusive"
    assert test.difference is None
    assert test.relative_lift is None
    assert (round(test.ci_low, 4), round(test.ci_high, 4)) == (0.0327, 0.0873)


def test_two_proportion_test_verdicts_by_interval():
    lower = two_proportion_test(86_000, 100_000, 92_000, 100_000)
    same = two_proportion_test(50_000, 100_000, 50_100, 100_000)

    assert lower.verdict == "lower"
    assert same.verdict == "no_significant_difference"
    assert same.ci_low < 0 < same.ci_high


def test_two_proportion_test_arm_sizes_rule_over_trials():
    # A read rate: trials are deliveries, the size rule looks at the arms' accepted counts.
    test = two_proportion_test(50, 90, 40, 80, arm_sizes=(200_000, 200_000))

    assert test.verdict in {"higher", "no_significant_difference"}
    assert test.difference == pytest.approx(50 / 90 - 40 / 80)


def test_two_proportion_test_edge_cases():
    empty = two_proportion_test(0, 0, 5, 10)
    certain = two_proportion_test(10, 10, 10, 10, min_arm_size=1)

    assert empty.verdict == "not_computable"
    assert (empty.rate_a, empty.rate_b) == (None, 0.5)
    assert (certain.z, certain.p_value, certain.verdict) == (0.0, 1.0, "no_significant_difference")
    assert not math.isnan(certain.ci_low)
    with pytest.raises(ValueError, match="successes <= trials"):
        two_proportion_test(11, 10, 1, 10)
    with pytest.raises(ValueError, match="confidence"):
        two_proportion_test(1, 10, 1, 10, confidence=1.0)

"""The two-proportion test behind the MM-versus-Cloud comparison, and its DuckDB binding.

For arm A (MM) and arm B (Cloud) with `x` successes out of `n` trials each:

- rates `p = x / n`, difference `d = p_A - p_B`, relative lift `d / p_B`;
- confidence interval `d ± z * sqrt(p_A(1-p_A)/n_A + p_B(1-p_B)/n_B)` (Wald, unpooled), with
  `z` the normal quantile of `(1 + confidence) / 2` (1.96 for 95%), clipped to [-1, 1];
- test statistic `z = d / sqrt(p(1-p)(1/n_A + 1/n_B))` with the pooled `p = (x_A+x_B)/(n_A+n_B)`,
  two-sided p-value `2 * (1 - Phi(|z|))`.

Verdict (DOMAIN.md section 7): when either arm has fewer recipients than `min_arm_size` (about
100k, Meta's guidance), the result is `inconclusive`: the interval is reported, the difference
and lift are not. Otherwise `higher` / `lower` (A relative to B) when the interval excludes 0,
else `no_significant_difference`; `not_computable` when an arm has no trials.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import duckdb

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_MIN_ARM_SIZE",
    "TWO_PROPORTION_SQL_TYPE",
    "VERDICTS",
    "ProportionTest",
    "register_two_proportion_test",
    "two_proportion_test",
]

DEFAULT_CONFIDENCE = 0.95
# Meta's guidance for an MM-versus-Cloud test: cohorts of at least about 100k each.
DEFAULT_MIN_ARM_SIZE = 100_000
VERDICTS = ("higher", "lower", "no_significant_difference", "inconclusive", "not_computable")
_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class ProportionTest:
    """The outcome of `two_proportion_test` (arm A relative to arm B).

    Attributes:
        rate_a: x_A / n_A (None without trials).
        rate_b: x_B / n_B.
        difference: rate_a - rate_b; None when inconclusive.
        ci_low: Lower end of the interval of the difference.
        ci_high: Upper end.
        relative_lift: difference / rate_b; None when inconclusive or rate_b is 0.
        z: The pooled test statistic.
        p_value: Two-sided p-value.
        verdict: One of `VERDICTS`.
    """

    rate_a: float | None
    rate_b: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    relative_lift: float | None
    z: float | None
    p_value: float | None
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict (the DuckDB struct's shape)."""
        return asdict(self)


def two_proportion_test(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    arm_sizes: tuple[int, int] | None = None,
    min_arm_size: int = DEFAULT_MIN_ARM_SIZE,
) -> ProportionTest:
    """Compare two proportions: difference, confidence interval, z-test and a verdict.

    Args:
        successes_a: Successes in arm A (e.g. MM messages delivered).
        trials_a: Trials in arm A (e.g. MM messages accepted).
        successes_b: Successes in arm B (Cloud).
        trials_b: Trials in arm B.
        confidence: Confidence level of the interval.
        arm_sizes: Recipients per arm for the size rule; the trials when None (a read rate
            has delivered messages as trials but the arm's size is its accepted count).
        min_arm_size: Below this size in either arm the verdict is `inconclusive`.

    Returns:
        The test; see `ProportionTest`.

    Raises:
        ValueError: negative counts, successes above trials, or confidence outside (0, 1).

    Example:
        >>> t = two_proportion_test(920, 1000, 860, 1000)
        >>> t.verdict, round(t.ci_low, 4), round(t.ci_high, 4)
        ('inconclusive', 0.0325, 0.0875)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be within (0, 1) (got {confidence})")
    for name, x, n in (("a", successes_a, trials_a), ("b", successes_b, trials_b)):
        if x < 0 or n < 0 or x > n:
            raise ValueError(f"arm {name}: need 0 <= successes <= trials (got {x} of {n})")
    if trials_a == 0 or trials_b == 0:
        rate_a = successes_a / trials_a if trials_a else None
        rate_b = successes_b / trials_b if trials_b else None
        return ProportionTest(rate_a, rate_b, None, None, None, None, None, None, "not_computable")
    rate_a = successes_a / trials_a
    rate_b = successes_b / trials_b
    difference = rate_a - rate_b
    critical = _STANDARD_NORMAL.inv_cdf(0.5 + confidence / 2.0)
    spread = math.sqrt(rate_a * (1 - rate_a) / trials_a + rate_b * (1 - rate_b) / trials_b)
    ci_low = max(-1.0, difference - critical * spread)
    ci_high = min(1.0, difference + critical * spread)
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    pooled_spread = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    if pooled_spread == 0.0:
        # Both arms all-success or all-failure: identical rates, nothing to test.
        z, p_value = 0.0, 1.0
    else:
        z = difference / pooled_spread
        p_value = 2.0 * (1.0 - _STANDARD_NORMAL.cdf(abs(z)))
    sizes = arm_sizes if arm_sizes is not None else (trials_a, trials_b)
    if min(sizes) < min_arm_size:
        return ProportionTest(
            rate_a, rate_b, None, ci_low, ci_high, None, z, p_value, "inconclusive"
        )
    if ci_low > 0.0:
        verdict = "higher"
    elif ci_high < 0.0:
        verdict = "lower"
    else:
        verdict = "no_significant_difference"
    lift = difference / rate_b if rate_b > 0 else None
    return ProportionTest(rate_a, rate_b, difference, ci_low, ci_high, lift, z, p_value, verdict)


TWO_PROPORTION_SQL_TYPE = (
    "STRUCT(rate_a DOUBLE, rate_b DOUBLE, difference DOUBLE, ci_low DOUBLE, ci_high DOUBLE, "
    "relative_lift DOUBLE, z DOUBLE, p_value DOUBLE, verdict VARCHAR)"
)


def _sql_two_proportion_test(
    successes_a: int | None,
    trials_a: int | None,
    successes_b: int | None,
    trials_b: int | None,
    size_a: int | None,
    size_b: int | None,
    min_arm_size: int | None,
    confidence: float | None,
) -> dict[str, Any]:
    # A missing arm arrives as NULLs: the comparison is then not computable.
    counts = (successes_a, trials_a, successes_b, trials_b)
    if any(value is None for value in counts):
        return ProportionTest(
            None, None, None, None, None, None, None, None, "not_computable"
        ).as_dict()
    return two_proportion_test(
        int(successes_a or 0),
        int(trials_a or 0),
        int(successes_b or 0),
        int(trials_b or 0),
        confidence=DEFAULT_CONFIDENCE if confidence is None else float(confidence),
        arm_sizes=(int(size_a or 0), int(size_b or 0)),
        min_arm_size=DEFAULT_MIN_ARM_SIZE if min_arm_size is None else int(min_arm_size),
    ).as_dict()


def register_two_proportion_test(con: duckdb.DuckDBPyConnection) -> None:
    """Make `two_proportion_test(x_a, n_a, x_b, n_b, size_a, size_b, min_arm_size, confidence)`
    callable from SQL on `con`, returning a struct with `ProportionTest`'s fields.

    The function lives in the connection only: tables made with it keep their values, so an
    analyst reading `analytics.duckdb` never needs it.
    """
    con.create_function(
        "two_proportion_test",
        _sql_two_proportion_test,
        ["BIGINT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "BIGINT", "DOUBLE"],
        TWO_PROPORTION_SQL_TYPE,
        null_handling="special",
        side_effects=False,
    )

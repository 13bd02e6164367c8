"""The statistics behind the A/B report: pure functions over counts and sums.

Normal approximations (Wilson interval, two-proportion z-test, Welch's t-test with
the Student t distribution) are right for the sample sizes a campaign reaches;
the report warns when a sample is too small for them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for a proportion (behaves at 0 and 1, unlike Wald)."""
    if n == 0:
        return Interval(0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Comparison:
    """Arm vs baseline: absolute difference with CI, relative difference with CI, p."""

    diff: float
    diff_ci: Interval
    relative: float | None
    relative_ci: Interval | None
    p_value: float


def two_proportions(x1: int, n1: int, x0: int, n0: int, z: float = Z95) -> Comparison | None:
    """Arm 1 vs baseline 0: pooled z-test p-value, unpooled interval for p1 - p0,
    and a log-ratio (delta method) interval for p1 / p0 - 1."""
    if n1 == 0 or n0 == 0:
        return None
    p1, p0 = x1 / n1, x0 / n0
    diff = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    pooled = (x1 + x0) / (n1 + n0)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    p_value = 1.0 if se0 == 0 else 2 * (1 - NormalDist().cdf(abs(diff) / se0))
    relative = relative_ci = None
    if x0 > 0:
        relative = p1 / p0 - 1
        if x1 > 0:
            se_log = math.sqrt((1 - p1) / x1 + (1 - p0) / x0)
            log_ratio = math.log(p1 / p0)
            relative_ci = Interval(math.exp(log_ratio - z * se_log) - 1,
                                   math.exp(log_ratio + z * se_log) - 1)
    return Comparison(diff, Interval(diff - z * se, diff + z * se), relative, relative_ci,
                      p_value)


def mean_and_variance(n: int, total: float, total_squares: float) -> tuple[float, float]:
    """From SQL's COUNT, SUM(x), SUM(x*x): the mean and the sample variance."""
    if n == 0:
        return 0.0, 0.0
    mean = total / n
    variance = max(0.0, (total_squares - n * mean * mean) / (n - 1)) if n > 1 else 0.0
    return mean, variance


def welch(mean1: float, var1: float, n1: int, mean0: float, var0: float, n0: int,
          level: float = 0.95) -> Comparison | None:
    """Welch's t-test and interval for a difference of means (revenue per recipient)."""
    if n1 < 2 or n0 < 2:
        return None
    a, b = var1 / n1, var0 / n0
    se = math.sqrt(a + b)
    diff = mean1 - mean0
    relative = diff / mean0 if mean0 else None
    if se == 0:
        return Comparison(diff, Interval(diff, diff), relative, None,
                          1.0 if diff == 0 else 0.0)
    df = (a + b) ** 2 / ((a * a / (n1 - 1)) + (b * b / (n0 - 1)))
    t = diff / se
    p_value = 2 * student_t_sf(abs(t), df)
    q = student_t_ppf(1 - (1 - level) / 2, df)
    relative_ci = None
    if mean0:
        relative_ci = Interval((diff - q * se) / mean0, (diff + q * se) / mean0)
    return Comparison(diff, Interval(diff - q * se, diff + q * se), relative, relative_ci,
                      p_value)


def sample_size_needed(p0: float, p1: float, ratio: float, alpha: float = 0.05,
                       power: float = 0.8) -> float | None:
    """Total recipients (baseline + arm) to detect p1 vs p0 with arm:baseline = ratio."""
    delta = abs(p1 - p0)
    if delta == 0 or ratio <= 0:
        return None
    z_a = NormalDist().inv_cdf(1 - alpha / 2)
    z_b = NormalDist().inv_cdf(power)
    p_bar = (p0 + ratio * p1) / (1 + ratio)
    n0 = (z_a * math.sqrt(p_bar * (1 - p_bar) * (1 + 1 / ratio))
          + z_b * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1) / ratio)) ** 2 / delta ** 2
    return n0 * (1 + ratio)


# -- Student t (no scipy: the regularized incomplete beta by Lentz's continued fraction) --

def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for t >= 0."""
    if df > 1e6:
        return 1 - NormalDist().cdf(t)
    x = df / (df + t * t)
    return 0.5 * _betainc(df / 2, 0.5, x)


def student_t_ppf(q: float, df: float) -> float:
    """The q-quantile (q > 0.5) by bisection on the survival function."""
    low, high = 0.0, 1.0
    while student_t_sf(high, df) > 1 - q:
        high *= 2
    for _ in range(100):
        mid = (low + high) / 2
        if student_t_sf(mid, df) > 1 - q:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log(1 - x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < 1e-12:
            break
    return result

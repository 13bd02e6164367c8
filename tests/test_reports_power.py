"""The honest "not yet": the minimum detectable effect and the sample for a named effect.

Checked against the world they describe: binomial samples drawn with the effect the
report calls detectable are found significant in about 80% of draws (its power), and
the sample it asks for a named effect has that power too.
"""

from __future__ import annotations

import random

import pytest

from dispatcher.reports.power import Effect, minimum_detectable_effect, recipients_needed
from dispatcher.reports.stats import two_proportions

from .shop import Shop


def _power(p0: float, p1: float, n0: int, n1: int, alpha: float, seed: int,
           draws: int = 1500) -> float:
    rng = random.Random(seed)
    found = 0
    for _ in range(draws):
        x0 = sum(rng.random() < p0 for _ in range(n0))
        x1 = sum(rng.random() < p1 for _ in range(n1))
        comparison = two_proportions(x1, n1, x0, n0)
        found += comparison is not None and comparison.p_value < alpha
    return found / draws


def test_the_minimum_detectable_effect_has_80_percent_power() -> None:
    p0, n0, n1 = 0.05, 400, 800
    mde = minimum_detectable_effect(p0, n0, n1, 0.05)
    assert mde is not None and 0.02 < mde < 0.06
    assert _power(p0, p0 + mde, n0, n1, 0.05, seed=7) == pytest.approx(0.8, abs=0.05)
    # half the effect goes unseen most of the time
    assert _power(p0, p0 + mde / 2, n0, n1, 0.05, seed=8) < 0.45


def test_the_sample_for_a_named_effect_has_80_percent_power() -> None:
    p0, delta = 0.10, 0.05
    needed = recipients_needed(p0, delta, 1.0, 0.05)
    assert needed is not None
    n0, n1 = needed
    assert n0 == n1 and 600 < n1 < 800
    assert _power(p0, p0 + delta, n0, n1, 0.05, seed=9, draws=1000) == \
        pytest.approx(0.8, abs=0.05)


def test_effects_are_named_in_points_or_relative() -> None:
    assert Effect.parse("1pp").absolute(0.04) == pytest.approx(0.01)
    assert Effect.parse("0.5 pts").absolute(0.04) == pytest.approx(0.005)
    assert Effect.parse("10%").absolute(0.04) == pytest.approx(0.004)
    assert Effect.parse("10%").absolute(0.0) is None
    for bad in ("1", "-1pp", "0pp", "100pp", "lots"):
        with pytest.raises(ValueError):
            Effect.parse(bad)


def test_tiny_samples_detect_nothing() -> None:
    assert minimum_detectable_effect(0.0, 1, 1, 0.05) is None
    assert minimum_detectable_effect(0.05, 0, 100, 0.05) is None


def test_report_rejects_a_bad_mde(shop: Shop) -> None:
    from .reports_shop import build

    build(shop, 20)
    result = shop.cli("report", "promo", "--mde", "lots", expect=2)
    assert "--mde: expected an effect like 1pp" in result.output
    assert "Traceback" not in result.output

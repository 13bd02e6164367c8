"""The report's statistics against textbook values."""

from __future__ import annotations

import random

import pytest

from dispatcher.config.models import CampaignConfig
from dispatcher.experiments.assign import arms, assign
from dispatcher.reports.stats import (
    mean_and_variance,
    sample_size_needed,
    student_t_ppf,
    student_t_sf,
    two_proportions,
    welch,
    wilson,
)


def test_wilson_interval() -> None:
    zero = wilson(0, 10)
    assert zero.low == pytest.approx(0, abs=1e-12) and zero.high == pytest.approx(0.2775, abs=1e-4)
    half = wilson(5, 10)
    assert (half.low, half.high) == (pytest.approx(0.2366, abs=1e-4),
                                     pytest.approx(0.7634, abs=1e-4))


def test_student_t() -> None:
    assert student_t_ppf(0.975, 10) == pytest.approx(2.2281, abs=1e-3)
    assert student_t_ppf(0.975, 1) == pytest.approx(12.706, abs=1e-2)
    assert student_t_sf(2.0, 5) == pytest.approx(0.05097, abs=1e-4)


def test_two_proportion_z_test() -> None:
    result = two_proportions(60, 1000, 40, 1000)
    assert result is not None
    assert result.diff == pytest.approx(0.02)
    assert result.p_value == pytest.approx(0.0402, abs=5e-4)
    assert result.relative == pytest.approx(0.5)
    assert two_proportions(1, 0, 1, 10) is None


def test_welch_matches_raw_samples() -> None:
    rng = random.Random(4)
    a = [rng.expovariate(1 / 12) for _ in range(400)]
    b = [rng.expovariate(1 / 10) for _ in range(300)]
    ma, va = mean_and_variance(len(a), sum(a), sum(x * x for x in a))
    mb, vb = mean_and_variance(len(b), sum(b), sum(x * x for x in b))
    result = welch(ma, va, len(a), mb, vb, len(b))
    assert result is not None
    assert result.diff == pytest.approx(sum(a) / len(a) - sum(b) / len(b))
    assert result.diff_ci.low < result.diff < result.diff_ci.high


def test_sample_size_for_four_vs_six_percent() -> None:
    total = sample_size_needed(0.04, 0.06, ratio=1)
    assert total == pytest.approx(2 * 1863, rel=0.01)
    assert sample_size_needed(0.05, 0.05, ratio=1) is None


def test_arm_shares_follow_weights() -> None:
    campaign = CampaignConfig.model_validate(
        {"segment": "s", "holdout": "10%", "variants": {"A": {"weight": 1},
                                                         "B": {"weight": 3}}})
    bounds = [(arm.name, arm.upper) for arm in arms(campaign)]
    assert bounds == [("holdout", 1000), ("A", 3250), ("B", 10000)]
    counts: dict[str | None, int] = {}
    for i in range(20000):
        arm = assign("promo", campaign, f"c{i}")
        counts[arm] = counts.get(arm, 0) + 1
    assert 0.09 < counts["holdout"] / 20000 < 0.11
    assert 0.21 < counts["A"] / 20000 < 0.24

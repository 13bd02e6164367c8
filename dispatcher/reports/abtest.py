"""Build the A/B report of one campaign: counts from SQL, statistics, verdict, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import NormalDist
from typing import Any

from sqlalchemy import Engine, func, insert, select

from dispatcher.clock import utcnow
from dispatcher.config.load import LoadedConfig
from dispatcher.experiments.assign import HOLDOUT, TREATMENT, experiment_record
from dispatcher.reports.attribution import NO_ARM, ArmCounts, arm_counts, conversions_by_day
from dispatcher.reports.funnel import Funnel, build_funnel, click_verdict, count_funnel
from dispatcher.reports.power import Effect, Sensitivity, describe, sensitivity
from dispatcher.reports.sqltime import day_of
from dispatcher.reports.stats import (
    Comparison,
    Interval,
    mean_and_variance,
    two_proportions,
    welch,
    wilson,
)
from dispatcher.store.schema import report_views

ALPHA = 0.05
SMALL_ARM = 100  # recipients below which an arm's numbers are noise
FEW_CONVERSIONS = 5  # below this the normal approximations are unreliable


@dataclass
class Revenue:
    """One arm's revenue in one currency: total, per recipient, and vs the baseline."""

    total: float
    mean: float  # per recipient
    variance: float
    comparison: Comparison | None = None  # Welch's t-test vs the baseline arm


@dataclass
class ArmReport:
    counts: ArmCounts
    rate_ci: Interval
    # Per currency, in the order the report shows them; never added across currencies.
    revenue: dict[str, Revenue] = field(default_factory=dict)
    conversion: Comparison | None = None  # vs the baseline arm

    @property
    def name(self) -> str:
        return self.counts.arm

    @property
    def rate(self) -> float:
        c = self.counts
        return c.converted / c.recipients if c.recipients else 0.0


@dataclass
class ABReport:
    campaign: str
    generated_at: datetime
    attribution_window: timedelta
    baseline: str | None
    arms: list[ArmReport]
    verdict: str
    warnings: list[str] = field(default_factory=list)
    timeline: dict[str, list[tuple[date, int]]] = field(default_factory=dict)
    # Not significant yet: what the test can detect now, and what a named effect needs.
    not_yet: list[Sensitivity] | None = None
    funnel: Funnel | None = None  # planned, sent, delivered, clicked per arm
    click_verdict: str = ""
    # Confidence level of the uplift intervals: 95%, Bonferroni-widened when several
    # variants are compared with one baseline, so an interval that excludes zero
    # agrees with the verdict.
    uplift_level: float = 0.95

    @property
    def uplift_label(self) -> str:
        return f"{self.uplift_level * 100:.3g}% CI"

    def arm(self, name: str) -> ArmReport:
        return next(a for a in self.arms if a.name == name)


def build_report(engine: Engine, loaded: LoadedConfig, campaign_name: str,
                 now: datetime | None = None, record_view: bool = True,
                 mde: Effect | None = None) -> ABReport:
    now = now or utcnow()
    campaign = loaded.config.campaigns[campaign_name]
    window = campaign.attribution_window
    record = experiment_record(campaign_name, campaign)
    salt = record["salt"] if record else None
    with engine.connect() as conn:
        counts = arm_counts(conn, campaign_name, window, now, salt)
        timeline = conversions_by_day(conn, campaign_name, window, salt, now)
        earlier_views = _earlier_view_days(conn, campaign_name, now)
        engagement = count_funnel(conn, campaign_name, salt, now,
                                  loaded.config.tracking.burst_window)
    order = _arm_order(list(campaign.variants), counts)
    arms = [_arm(counts[name]) for name in order]
    baseline = _baseline(order)
    level = 1 - ALPHA / max(1, len(order) - 1)
    if baseline is not None:
        base = next(a for a in arms if a.name == baseline)
        for arm in arms:
            if arm is not base:
                _compare(arm, base, level)
    report = ABReport(campaign_name, now, window, baseline, arms, "", timeline=timeline,
                      uplift_level=level)
    report.verdict, report.not_yet = _verdict(report, mde)
    report.funnel = build_funnel(engagement, order, ALPHA, mde)
    report.click_verdict = click_verdict(report.funnel, _label,
                                         orders_decided=report.not_yet is None)
    report.warnings = _warnings(report, campaign.planned_recipients, earlier_views, now)
    if record_view:
        total = sum(a.counts.recipients for a in arms)
        with engine.begin() as conn:
            conn.execute(insert(report_views).values(campaign=campaign_name, recipients=total,
                                                     viewed_at=now))
    return report


def _arm_order(variants: list[str], counts: dict[str, ArmCounts]) -> list[str]:
    """Holdout first (the baseline), then variants in config order, then anything else
    found in the ledger (arms of an earlier config)."""
    known = [HOLDOUT, *variants, TREATMENT, NO_ARM]
    ordered = [name for name in known if name in counts]
    return ordered + sorted(name for name in counts if name not in ordered)


def _baseline(order: list[str]) -> str | None:
    if len(order) < 2:
        return None
    return HOLDOUT if HOLDOUT in order else order[0]


def _arm(counts: ArmCounts) -> ArmReport:
    revenue = {}
    for currency, total in counts.revenue.items():
        mean, variance = mean_and_variance(counts.recipients, total,
                                           counts.revenue_squares[currency])
        revenue[currency] = Revenue(total, mean, variance)
    return ArmReport(counts, wilson(counts.converted, counts.recipients), revenue)


def _compare(arm: ArmReport, base: ArmReport, level: float) -> None:
    a, b = arm.counts, base.counts
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    arm.conversion = two_proportions(a.converted, a.recipients, b.converted, b.recipients, z)
    for currency, mine in arm.revenue.items():
        theirs = base.revenue.get(currency)
        if theirs is not None:
            mine.comparison = welch(mine.mean, mine.variance, a.recipients,
                                    theirs.mean, theirs.variance, b.recipients, level)


def _verdict(report: ABReport,
             mde: Effect | None = None) -> tuple[str, list[Sensitivity] | None]:
    if report.baseline is None:
        if not report.arms:
            return "No recipients yet.", None
        return "No comparison: the campaign has no variants or holdout.", None
    base = report.arm(report.baseline)
    contenders = [a for a in report.arms if a.conversion is not None]
    # Several variants against one baseline: Bonferroni keeps the chance of any false
    # "wins" at ALPHA (and the uplift intervals are widened to match).
    alpha = ALPHA / max(1, len(contenders))
    significant = [a for a in contenders if a.conversion and a.conversion.p_value < alpha]
    better = sorted((a for a in significant if a.conversion and a.conversion.diff > 0),
                    key=lambda a: a.conversion.diff if a.conversion else 0, reverse=True)
    if better:
        win = better[0]
        assert win.conversion is not None
        c = win.conversion
        return (f"{_label(win.name)} wins: {win.rate:.1%} converted vs {base.rate:.1%} in "
                f"{_label(base.name)} ({_points(c.diff)}, {report.uplift_label} "
                f"{_points(c.diff_ci.low)} to "
                f"{_points(c.diff_ci.high)}; {_p(c.p_value)})."), None
    if significant:
        worse = significant[0]
        assert worse.conversion is not None
        return (f"{_label(worse.name)} converts worse than {_label(base.name)}: "
                f"{worse.rate:.1%} vs {base.rate:.1%} ({_p(worse.conversion.p_value)})."), None
    # No "N more recipients needed" from the observed difference: under no real effect
    # that difference is noise and the advice would extend a null test forever.
    seen = [sensitivity("conversion", arm.name, arm.counts.recipients, base.name,
                        base.counts.converted, base.counts.recipients, alpha, mde)
            for arm in contenders]
    if not seen:
        return "Not significant yet: no recipients to compare.", None
    return "Not significant yet. " + describe(seen, _label), seen


def _warnings(report: ABReport, planned: int | None, earlier_days: int,
              now: datetime) -> list[str]:
    out: list[str] = []
    small = [a.name for a in report.arms if a.counts.recipients < SMALL_ARM]
    if small:
        out.append(f"small sample: {', '.join(map(_label, small))} "
                   f"{'has' if len(small) == 1 else 'have'} fewer than {SMALL_ARM} recipients; "
                   f"differences this small are mostly noise.")
    few = [a.name for a in report.arms
           if a.counts.recipients >= SMALL_ARM and a.counts.converted < FEW_CONVERSIONS]
    if few and report.baseline is not None:
        out.append(f"few conversions in {', '.join(map(_label, few))}: intervals and "
                   f"p-values are approximate.")
    still_open = sum(a.counts.window_open for a in report.arms)
    if still_open:
        ends = [a.counts.last_window_end for a in report.arms if a.counts.last_window_end]
        until = f" (until {max(ends):%Y-%m-%d %H:%M} UTC)" if ends else ""
        out.append(f"{still_open:,} recipients are still inside their attribution window"
                   f"{until}: conversions will grow.")
    total = sum(a.counts.recipients for a in report.arms)
    if planned is not None and total < planned and earlier_days >= 1:
        out.append(f"peeking: this report was opened on {earlier_days} earlier day(s) before "
                   f"the test reached its planned {planned:,} recipients ({total:,} so far). "
                   f"Stopping at the "
                   f"first significant look inflates false positives; decide at the planned "
                   f"sample size.")
    elif planned is None and earlier_days >= 2 and report.baseline is not None:
        out.append(f"peeking: this report was opened on {earlier_days} earlier days and the "
                   f"campaign has no planned_recipients; set one (the sample size needed) and "
                   f"decide when it is reached, not when a look first shows significance.")
    return out


def _earlier_view_days(conn: Any, campaign: str, now: datetime) -> int:
    start_of_today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = (select(func.count(func.distinct(day_of(report_views.c.viewed_at))))
            .where(report_views.c.campaign == campaign, report_views.c.viewed_at < start_of_today))
    return int(conn.execute(days).scalar() or 0)


def _label(arm: str) -> str:
    return arm if arm in (HOLDOUT, TREATMENT, NO_ARM) else f"variant {arm}"


def _points(diff: float) -> str:
    return f"{diff * 100:+.1f} pts"


def _p(p: float) -> str:
    return "p<0.0001" if p < 0.0001 else f"p={p:.4f}" if p < 0.001 else f"p={p:.3f}"

"""The A/B report as data (json, csv) and as a terminal table."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from ..csv_safe import neutral_dict
from .abtest import ABReport, ArmReport
from .stats import Comparison, Interval

COLUMNS = ("arm", "recipients", "delivered", "failed", "pending", "opted_out", "converted",
           "conversion_rate", "rate_ci_low", "rate_ci_high", "revenue", "revenue_per_recipient",
           "uplift", "uplift_ci_low", "uplift_ci_high", "relative_uplift",
           "relative_uplift_ci_low", "relative_uplift_ci_high", "p_value",
           "revenue_uplift", "revenue_uplift_ci_low", "revenue_uplift_ci_high",
           "revenue_p_value")


def arm_row(arm: ArmReport) -> dict[str, Any]:
    c = arm.counts
    row: dict[str, Any] = {
        "arm": arm.name, "recipients": c.recipients, "delivered": c.delivered,
        "failed": c.failed, "pending": c.pending, "opted_out": c.opted_out,
        "converted": c.converted, "conversion_rate": arm.rate,
        "rate_ci_low": arm.rate_ci.low, "rate_ci_high": arm.rate_ci.high,
        "revenue": round(c.revenue, 2), "revenue_per_recipient": arm.revenue_mean,
    }
    row.update(_comparison("uplift", "relative_uplift", "p_value", arm.conversion))
    revenue = _comparison("revenue_uplift", None, "revenue_p_value", arm.revenue)
    row.update(revenue)
    return row


def _comparison(diff: str, relative: str | None, p: str,
                comp: Comparison | None) -> dict[str, Any]:
    out: dict[str, Any] = {diff: None, f"{diff}_ci_low": None, f"{diff}_ci_high": None,
                           p: None}
    if relative:
        out.update({relative: None, f"{relative}_ci_low": None, f"{relative}_ci_high": None})
    if comp is None:
        return out
    out.update({diff: comp.diff, f"{diff}_ci_low": comp.diff_ci.low,
                f"{diff}_ci_high": comp.diff_ci.high, p: comp.p_value})
    if relative:
        out[relative] = comp.relative
        if comp.relative_ci is not None:
            out[f"{relative}_ci_low"] = comp.relative_ci.low
            out[f"{relative}_ci_high"] = comp.relative_ci.high
    return out


def as_dict(report: ABReport) -> dict[str, Any]:
    return {
        "campaign": report.campaign,
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "attribution_window_days": report.attribution_window.total_seconds() / 86400,
        "baseline": report.baseline,
        "uplift_confidence_level": report.uplift_level,
        "arms": [arm_row(a) for a in report.arms],
        "verdict": report.verdict,
        "more_recipients_needed": report.more_needed,
        "warnings": report.warnings,
        "conversions_by_day": {arm: [[d.isoformat(), n] for d, n in days]
                               for arm, days in report.timeline.items()},
    }


def to_json(report: ABReport) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False)


def to_csv(report: ABReport) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for arm in report.arms:
        writer.writerow(neutral_dict({k: ("" if v is None else v)
                                      for k, v in arm_row(arm).items()}))
    return buffer.getvalue()


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pts"


def interval(ci: Interval | None, fmt: Any) -> str:
    return "" if ci is None else f"[{fmt(ci.low)}, {fmt(ci.high)}]"


def money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def print_table(report: ABReport, console: Console) -> None:
    """One column per arm, one line per measure: fits a terminal with any number of measures."""
    days = report.attribution_window.total_seconds() / 86400
    table = Table(title=f"{report.campaign}: A/B report (orders within {days:g} days "
                        f"of the message)")
    table.add_column("")
    for arm in report.arms:
        table.add_column(arm.name + (" (baseline)" if arm.name == report.baseline else ""),
                         justify="right")

    def line(label: str, cell: Any) -> None:
        table.add_row(label, *(cell(arm) for arm in report.arms))

    line("recipients", lambda a: f"{a.counts.recipients:,}")
    line("delivered", lambda a: f"{a.counts.delivered:,}")
    line("failed", lambda a: f"{a.counts.failed:,}")
    line("opted out after", lambda a: f"{a.counts.opted_out:,}")
    line("converted", lambda a: f"{a.counts.converted:,}")
    line("conversion rate", lambda a: pct(a.rate))
    line("  95% CI", lambda a: interval(a.rate_ci, pct))
    ci = f"  {report.uplift_label}"
    line("revenue / recipient", lambda a: money(a.revenue_mean))
    line("uplift", lambda a: points(a.conversion.diff) if a.conversion else "")
    line(ci, lambda a: interval(a.conversion.diff_ci, points) if a.conversion else "")
    line("relative uplift", lambda a: pct(a.conversion.relative) if a.conversion else "")
    line(ci, lambda a: interval(a.conversion.relative_ci, pct) if a.conversion else "")
    line("p (z-test)", lambda a: p_value(a.conversion.p_value) if a.conversion else "")
    line("revenue uplift", lambda a: f"{a.revenue.diff:+,.2f}" if a.revenue else "")
    line(ci, lambda a: interval(a.revenue.diff_ci, money) if a.revenue else "")
    line("p (Welch t)", lambda a: p_value(a.revenue.p_value) if a.revenue else "")
    console.print(table)
    console.print(report.verdict, style="bold", markup=False, highlight=False)
    for warning in report.warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)

"""The A/B report as data (json, csv) and as a terminal table."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from dispatcher.reports.abtest import ABReport, ArmReport
from dispatcher.reports.csv_safe import neutral_dict
from dispatcher.reports.funnel import OPENS_NOTE, ArmFunnel
from dispatcher.reports.stats import Comparison, Interval

COLUMNS = ("arm", "recipients", "delivered", "failed", "pending", "opted_out", "converted",
           "conversion_rate", "rate_ci_low", "rate_ci_high",
           "uplift", "uplift_ci_low", "uplift_ci_high", "relative_uplift",
           "relative_uplift_ci_low", "relative_uplift_ci_high", "p_value",
           # the engagement funnel (reports/funnel.py)
           "sent", "clicked", "clicks", "bot_clicked", "bot_clicks", "click_rate",
           "click_rate_ci_low", "click_rate_ci_high", "click_uplift", "click_uplift_ci_low",
           "click_uplift_ci_high", "click_p_value", "opened_unreliable")
# Revenue columns, once per currency in the report (``revenue_UAH``, ...).
REVENUE_COLUMNS = ("revenue", "revenue_per_recipient", "revenue_uplift",
                   "revenue_uplift_ci_low", "revenue_uplift_ci_high", "revenue_p_value")


def _funnel_of(report: ABReport, name: str) -> ArmFunnel:
    found = report.funnel.arm(name) if report.funnel else None
    return found or ArmFunnel(name)


def arm_row(arm: ArmReport, funnel: ArmFunnel | None = None) -> dict[str, Any]:
    c = arm.counts
    engaged = (funnel or ArmFunnel(arm.name)).as_dict()
    row: dict[str, Any] = {
        "arm": arm.name, "recipients": c.recipients, "delivered": engaged["delivered"],
        "failed": c.failed, "pending": c.pending, "opted_out": c.opted_out,
        "converted": c.converted, "conversion_rate": arm.rate,
        "rate_ci_low": arm.rate_ci.low, "rate_ci_high": arm.rate_ci.high,
    }
    row.update(_comparison("uplift", "relative_uplift", "p_value", arm.conversion))
    row["revenue"] = {currency: {"total": round(r.total, 2), "per_recipient": r.mean,
                                 **_comparison("uplift", None, "p_value", r.comparison)}
                      for currency, r in arm.revenue.items()}
    row.update({k: v for k, v in engaged.items() if k in COLUMNS and k not in row})
    return row


def currencies(report: ABReport) -> list[str]:
    return sorted({c for arm in report.arms for c in arm.revenue})


def _csv_row(arm: ArmReport, names: list[str], funnel: ArmFunnel) -> dict[str, Any]:
    row = arm_row(arm, funnel)
    revenue = row.pop("revenue")
    for currency in names:
        figures = revenue.get(currency, {})
        values = (figures.get("total"), figures.get("per_recipient"), figures.get("uplift"),
                  figures.get("uplift_ci_low"), figures.get("uplift_ci_high"),
                  figures.get("p_value"))
        row.update({f"{column}_{currency}": value
                    for column, value in zip(REVENUE_COLUMNS, values, strict=True)})
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
        "arms": [arm_row(a, _funnel_of(report, a.name)) for a in report.arms],
        "verdict": report.verdict,
        "not_yet": None if report.not_yet is None else
        {"conversion": [s.as_dict() for s in report.not_yet]},
        "funnel": [_funnel_of(report, a.name).as_dict() for a in report.arms],
        "click_baseline": report.funnel.baseline if report.funnel else None,
        "click_verdict": report.click_verdict,
        "click_not_yet": None if not report.funnel or report.funnel.not_yet is None else
        [s.as_dict() for s in report.funnel.not_yet],
        "opens_note": OPENS_NOTE,
        "warnings": report.warnings,
        "conversions_by_day": {arm: [[d.isoformat(), n] for d, n in days]
                               for arm, days in report.timeline.items()},
    }


def to_json(report: ABReport) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False)


def to_csv(report: ABReport) -> str:
    buffer = io.StringIO()
    names = currencies(report)
    columns = [*COLUMNS, *(f"{c}_{cur}" for cur in names for c in REVENUE_COLUMNS)]
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for arm in report.arms:
        row = _csv_row(arm, names, _funnel_of(report, arm.name))
        writer.writerow(neutral_dict({k: ("" if v is None else v) for k, v in row.items()}))
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


def _welch(arm: ArmReport, currency: str, show: Any) -> str:
    """A cell of the revenue comparison in one currency ("" for the baseline)."""
    figures = arm.revenue.get(currency)
    return show(figures.comparison) if figures and figures.comparison else ""


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

    def funnel(a: ArmReport) -> ArmFunnel:
        return _funnel_of(report, a.name)

    line("planned", lambda a: f"{a.counts.recipients:,}")
    line("sent", lambda a: f"{funnel(a).sent:,}")
    line("delivered", lambda a: f"{funnel(a).delivered:,}")
    line("failed", lambda a: f"{a.counts.failed:,}")
    line("clicked", lambda a: f"{funnel(a).clicked:,}")
    line("click rate", lambda a: pct(funnel(a).ctr))
    line("  95% CI", lambda a: interval(funnel(a).ctr_ci, pct))
    line("click uplift", lambda a: points(c.diff) if (c := funnel(a).comparison) else "")
    line("bot clicks", lambda a: f"{funnel(a).bot_clicks:,}")
    line("opened (unrel.)", lambda a: f"{funnel(a).opened:,}")
    line("opted out after", lambda a: f"{a.counts.opted_out:,}")
    line("converted", lambda a: f"{a.counts.converted:,}")
    line("conversion rate", lambda a: pct(a.rate))
    line("  95% CI", lambda a: interval(a.rate_ci, pct))
    ci = f"  {report.uplift_label}"
    for cur in currencies(report):
        line(f"revenue / recipient, {cur}",
             lambda a, cur=cur: money(a.revenue[cur].mean) if cur in a.revenue else "-")
    line("uplift", lambda a: points(a.conversion.diff) if a.conversion else "")
    line(ci, lambda a: interval(a.conversion.diff_ci, points) if a.conversion else "")
    line("relative uplift", lambda a: pct(a.conversion.relative) if a.conversion else "")
    line(ci, lambda a: interval(a.conversion.relative_ci, pct) if a.conversion else "")
    line("p (z-test)", lambda a: p_value(a.conversion.p_value) if a.conversion else "")
    for cur in currencies(report):
        line(f"revenue uplift, {cur}",
             lambda a, cur=cur: _welch(a, cur, lambda c: f"{c.diff:+,.2f}"))
        line(ci, lambda a, cur=cur: _welch(a, cur, lambda c: interval(c.diff_ci, money)))
        line(f"p (Welch t), {cur}", lambda a, cur=cur: _welch(a, cur, lambda c: p_value(c.p_value)))
    console.print(table)
    console.print(report.verdict, style="bold", markup=False, highlight=False)
    if report.click_verdict:
        console.print(report.click_verdict, markup=False, highlight=False)
    if any(_funnel_of(report, a.name).opened for a in report.arms):
        console.print(OPENS_NOTE, markup=False, highlight=False)
    for warning in report.warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)

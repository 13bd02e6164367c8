"""The A/B report as one self-contained HTML page: table, verdict and inline SVG charts.

Charts are drawn by matplotlib (the ``reports`` extra) into SVG embedded in the page,
so it opens offline and prints sharply. The numbers behind each chart are embedded
too (``<script type="application/json" id="chart-data">``), so a reader or a test can
check the charts against the table.
"""

from __future__ import annotations

import html
import io
import json
from datetime import date, timedelta
from typing import Any

from dispatcher.reports.abtest import ABReport
from dispatcher.reports.abtest_formats import currencies, interval, money, p_value, pct, points
from dispatcher.reports.funnel import OPENS_NOTE, ArmFunnel

FUNNEL_STAGES = ("planned", "sent", "delivered", "clicked", "converted")


def funnel_data(report: ABReport) -> list[dict[str, Any]]:
    """Per arm, each stage's count (clicked: people, bots apart)."""
    out = []
    for arm in report.arms:
        f = (report.funnel.arm(arm.name) if report.funnel else None) or ArmFunnel(arm.name)
        out.append({"arm": arm.name, "planned": arm.counts.recipients, "sent": f.sent,
                    "delivered": f.delivered, "clicked": f.clicked,
                    "converted": arm.counts.converted, "bot_clicked": f.bot_clicked,
                    "opened": f.opened})
    return out


def chart_data(report: ABReport) -> dict[str, Any]:
    """Cumulative conversions per arm and day, and each arm's uplift with its interval."""
    days = sorted({d for series in report.timeline.values() for d, _ in series})
    if days:
        span = [days[0] + timedelta(days=i) for i in range((days[-1] - days[0]).days + 1)]
    else:
        span = []
    cumulative: dict[str, Any] = {}
    for arm in report.arms:
        per_day = dict(report.timeline.get(arm.name, []))
        running, series = 0, []
        for day in span:
            running += per_day.get(day, 0)
            series.append(running)
        cumulative[arm.name] = {"recipients": arm.counts.recipients, "conversions": series}
    uplift = [{"arm": a.name, "diff": a.conversion.diff, "low": a.conversion.diff_ci.low,
               "high": a.conversion.diff_ci.high, "p_value": a.conversion.p_value}
              for a in report.arms if a.conversion is not None]
    return {"days": [d.isoformat() for d in span], "cumulative": cumulative,
            "uplift": uplift, "baseline": report.baseline,
            "uplift_label": report.uplift_label, "funnel": funnel_data(report)}


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _cumulative_chart(data: dict[str, Any]) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 3.6))
    axes = figure.subplots()
    days: list[Any] = [date.fromisoformat(d) for d in data["days"]]
    for arm, series in data["cumulative"].items():
        n = series["recipients"] or 1
        rates = [100 * c / n for c in series["conversions"]]
        # Each day's value holds until the next day starts; close the last day too.
        x = [*days, days[-1] + timedelta(days=1)] if days else []
        y = [*rates, rates[-1]] if rates else []
        (line,) = axes.step(x, y, where="post", label=f"{arm} (n={n:,})")
        line.set_gid(f"cumulative-{arm}")
    axes.set_ylabel("converted, % of recipients")
    axes.set_title("Cumulative conversions over time")
    axes.grid(alpha=0.3)
    if data["cumulative"]:
        axes.legend(loc="upper left", frameon=False)
    figure.autofmt_xdate()
    return _svg(figure)


def _uplift_chart(data: dict[str, Any]) -> str:
    from matplotlib.figure import Figure

    rows = data["uplift"]
    figure = Figure(figsize=(7.5, 0.9 + 0.6 * max(1, len(rows))))
    axes = figure.subplots()
    for index, row in enumerate(rows):
        diff, low, high = (100 * row[k] for k in ("diff", "low", "high"))
        bars = axes.errorbar([diff], [index], xerr=[[diff - low], [high - diff]], fmt="o",
                             capsize=6, color="tab:green" if low > 0 else
                             "tab:red" if high < 0 else "tab:gray")
        bars.lines[0].set_gid(f"uplift-{row['arm']}")
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(rows)), [r["arm"] for r in rows])
    axes.set_ylim(-0.7, len(rows) - 0.3)
    axes.set_xlabel(f"uplift over {data['baseline']}, percentage points "
                    f"({data['uplift_label']})")
    axes.set_title("Uplift in conversion rate")
    axes.grid(axis="x", alpha=0.3)
    return _svg(figure)


def _funnel_chart(data: dict[str, Any]) -> str:
    """Grouped bars: each arm's stages as a share of its planned recipients."""
    from matplotlib.figure import Figure

    rows = data["funnel"]
    figure = Figure(figsize=(7.5, 1.2 + 0.45 * len(FUNNEL_STAGES) * max(1, len(rows)) / 2))
    axes = figure.subplots()
    height = 0.8 / max(1, len(rows))
    for index, row in enumerate(rows):
        planned = row["planned"] or 1
        shares = [100 * row[stage] / planned for stage in FUNNEL_STAGES]
        ys = [stage + index * height for stage in range(len(FUNNEL_STAGES))]
        bars = axes.barh(ys, shares, height=height, label=f"{row['arm']} (n={planned:,})")
        for stage, bar in zip(FUNNEL_STAGES, bars, strict=True):
            bar.set_gid(f"funnel-{row['arm']}-{stage}")
    axes.set_yticks([i + 0.4 - height / 2 for i in range(len(FUNNEL_STAGES))],
                    list(FUNNEL_STAGES))
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of planned recipients (clicked: people; machines apart)")
    axes.set_title("Funnel per arm")
    axes.grid(axis="x", alpha=0.3)
    if rows:
        axes.legend(loc="lower right", frameon=False)
    return _svg(figure)


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.8rem}
.scroll{overflow-x:auto}
th,td{border-bottom:1px solid #ddd;padding:.3rem .45rem;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
.verdict{font-size:1.15rem;font-weight:600;margin:1rem 0}
.warning{color:#8a5a00;background:#fff6e0;padding:.4rem .6rem;margin:.3rem 0}
figure{margin:1.5rem 0}
"""


def render_html(report: ABReport) -> str:
    data = chart_data(report)
    e = html.escape
    names = currencies(report)
    head = ("arm", "recipients", "sent", "delivered", "clicked", "click rate", "click 95% CI",
            "bot clicks", "failed", "opted out", "converted",
            "conversion", "95% CI", *(f"revenue / recipient, {c}" for c in names), "uplift",
            report.uplift_label, "relative", "p",
            *(h for c in names for h in (f"revenue uplift, {c}", f"p (revenue), {c}")))
    rows = []
    for arm in report.arms:
        c, conv = arm.counts, arm.conversion
        revenue = [arm.revenue.get(cur) for cur in names]
        f = (report.funnel.arm(arm.name) if report.funnel else None) or ArmFunnel(arm.name)
        cells = [arm.name + (" (baseline)" if arm.name == report.baseline else ""),
                 f"{c.recipients:,}", f"{f.sent:,}", f"{f.delivered:,}", f"{f.clicked:,}",
                 pct(f.ctr), interval(f.ctr_ci, pct), f"{f.bot_clicks:,}",
                 f"{c.failed:,}", f"{c.opted_out:,}",
                 f"{c.converted:,}", pct(arm.rate), interval(arm.rate_ci, pct),
                 *(money(r.mean if r else None) for r in revenue),
                 points(conv.diff) if conv else "", interval(conv.diff_ci, points) if conv else "",
                 pct(conv.relative) if conv else "", p_value(conv.p_value) if conv else ""]
        for r in revenue:
            rev = r.comparison if r else None
            cells += [f"{rev.diff:+,.2f}" if rev else "", p_value(rev.p_value) if rev else ""]
        rows.append(f'<tr data-arm="{e(arm.name)}">'
                    + "".join(f"<td>{e(v)}</td>" for v in cells) + "</tr>")
    warnings = "".join(f'<p class="warning">{e(w)}</p>' for w in report.warnings)
    charts = f'<figure id="chart-funnel">{_funnel_chart(data)}</figure>'
    charts += f'<figure id="chart-cumulative">{_cumulative_chart(data)}</figure>'
    if data["uplift"]:
        charts += f'<figure id="chart-uplift">{_uplift_chart(data)}</figure>'
    days = report.attribution_window.total_seconds() / 86400
    payload = json.dumps(data).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(report.campaign)}: A/B report</title><style>{STYLE}</style></head>
<body>
<h1>{e(report.campaign)}: did the campaign bring customers back?</h1>
<p>Orders within {days:g} days of the message (holdout: of when it would have been sent).
Generated {report.generated_at:%Y-%m-%d %H:%M} UTC.</p>
<p class="verdict">{e(report.verdict)}</p>
{f'<p class="verdict" id="click-verdict">{e(report.click_verdict)}</p>'
 if report.click_verdict else ""}
{warnings}
{f'<p class="note">{e(OPENS_NOTE)}</p>' if any(r["opened"] for r in data["funnel"]) else ""}
<div class="scroll"><table id="arms">
<thead><tr>{"".join(f"<th>{e(h)}</th>" for h in head)}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></div>
{charts}
<script type="application/json" id="chart-data">{payload}</script>
</body></html>
"""

"""The engagement half of the report: per arm, what happened between planning and an order.

    planned    rows of the arm (holdout rows too: they are planned, never sent)
    sent       accepted by the provider
    delivered  the channel confirmed delivery (outbox.delivered; SMS by Twilio's receipt)
    clicked    recipients with at least one click by a person (unique); clicks in all
    bots       clicks by machines, kept and counted apart (dispatcher/tracking/agents.py):
               HEAD requests, prefetches, scanner and bot user agents, and a burst: every
               link of a message with two or more links clicked within
               ``tracking.burst_window`` (30 s) of its sending
    opened     recipients whose open pixel was fetched: unreliable (Apple Mail Privacy
               Protection and image proxies fetch it unopened); never used for a verdict

Click-through rate = clicked / sent, with a Wilson 95% interval. Variants are compared
on it (two-proportion z-test, Bonferroni across variants) with the first variant as the
baseline: the holdout gets no message, so it has nothing to click.

Counted in the database, one line per arm, as the attribution is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, or_, select

from dispatcher.experiments.assign import HOLDOUT
from dispatcher.reports.attribution import NO_ARM
from dispatcher.reports.power import Effect, Sensitivity, describe, sensitivity
from dispatcher.reports.sqltime import at_most_after
from dispatcher.reports.stats import Comparison, Interval, two_proportions, wilson
from dispatcher.store.schema import clicks, opens, outbox, runs, tracked_links

OPENS_NOTE = ("Opens are unreliable: Apple Mail Privacy Protection and image proxies fetch "
              "the pixel without a person opening anything. Shown for reference; never "
              "used for a verdict.")


@dataclass
class ArmFunnel:
    arm: str
    planned: int = 0
    sent: int = 0
    delivered: int = 0
    clicked: int = 0
    clicks: int = 0
    bot_clicked: int = 0
    bot_clicks: int = 0
    opened: int = 0
    ctr_ci: Interval | None = None
    comparison: Comparison | None = None  # click-through vs the click baseline

    @property
    def ctr(self) -> float | None:
        return self.clicked / self.sent if self.sent else None

    def as_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "arm": self.arm, "planned": self.planned, "sent": self.sent,
            "delivered": self.delivered, "clicked": self.clicked, "clicks": self.clicks,
            "bot_clicked": self.bot_clicked, "bot_clicks": self.bot_clicks,
            "click_rate": self.ctr,
            "click_rate_ci_low": self.ctr_ci.low if self.ctr_ci else None,
            "click_rate_ci_high": self.ctr_ci.high if self.ctr_ci else None,
            "click_uplift": c.diff if c else None,
            "click_uplift_ci_low": c.diff_ci.low if c else None,
            "click_uplift_ci_high": c.diff_ci.high if c else None,
            "click_p_value": c.p_value if c else None,
            "opened_unreliable": self.opened,
        }


@dataclass
class Funnel:
    arms: list[ArmFunnel]
    baseline: str | None  # the arm clicks are compared with (the first variant)
    level: float  # confidence of the click uplift intervals (Bonferroni-widened)
    verdict: str = ""
    not_yet: list[Sensitivity] | None = None

    def arm(self, name: str) -> ArmFunnel | None:
        return next((a for a in self.arms if a.arm == name), None)


def _campaign_rows(campaign: str, salt: str | None) -> Any:
    cond = and_(outbox.c.campaign == campaign, outbox.c.status != "skipped")
    if salt is not None:
        cond = and_(cond, outbox.c.run_id.in_(
            select(runs.c.id).where(runs.c.campaign == campaign,
                                    runs.c.experiment["salt"].as_string() == salt)))
    return cond


def _burst_rows(campaign: str, window: timedelta) -> Any:
    """Rows whose every link (two or more) was clicked within ``window`` of sending."""
    seconds = literal(int(window.total_seconds()))
    links = (select(tracked_links.c.outbox_id, func.count().label("links"))
             .join(outbox, outbox.c.id == tracked_links.c.outbox_id)
             .where(outbox.c.campaign == campaign)
             .group_by(tracked_links.c.outbox_id).subquery("links_per_row"))
    early = (select(clicks.c.outbox_id, func.count(func.distinct(clicks.c.link)).label("early"))
             .join(outbox, outbox.c.id == clicks.c.outbox_id)
             .where(outbox.c.campaign == campaign,
                    at_most_after(clicks.c.at, outbox.c.sent_at, seconds))
             .group_by(clicks.c.outbox_id).subquery("early_clicks"))
    return (select(early.c.outbox_id)
            .join(links, links.c.outbox_id == early.c.outbox_id)
            .where(links.c.links >= 2, early.c.early >= links.c.links))


def count_funnel(conn: Connection, campaign: str, salt: str | None, now: datetime,
                 burst_window: timedelta) -> dict[str, ArmFunnel]:
    seconds = literal(int(burst_window.total_seconds()))
    burst = and_(clicks.c.outbox_id.in_(_burst_rows(campaign, burst_window)),
                 at_most_after(clicks.c.at, outbox.c.sent_at, seconds))
    machine = or_(clicks.c.bot.is_not(None), burst)
    per_row = (select(clicks.c.outbox_id,
                      func.sum(case((machine, 0), else_=1)).label("people"),
                      func.sum(case((machine, 1), else_=0)).label("machines"))
               .join(outbox, outbox.c.id == clicks.c.outbox_id)
               .where(outbox.c.campaign == campaign, clicks.c.at <= now)
               .group_by(clicks.c.outbox_id).subquery("clicks_per_row"))
    opened = (select(opens.c.outbox_id).join(outbox, outbox.c.id == opens.c.outbox_id)
              .where(outbox.c.campaign == campaign, opens.c.at <= now)
              .group_by(opens.c.outbox_id).subquery("opened_rows"))
    people = func.coalesce(per_row.c.people, 0)
    machines = func.coalesce(per_row.c.machines, 0)
    arm = func.coalesce(outbox.c.variant, NO_ARM)
    query = (
        select(arm, func.count(),
               func.sum(case((outbox.c.status == "sent", 1), else_=0)),
               func.sum(case((outbox.c.delivered.is_(True), 1), else_=0)),
               func.sum(case((people > 0, 1), else_=0)), func.sum(people),
               func.sum(case((machines > 0, 1), else_=0)), func.sum(machines),
               func.sum(case((opened.c.outbox_id.is_not(None), 1), else_=0)))
        .select_from(outbox.outerjoin(per_row, per_row.c.outbox_id == outbox.c.id)
                     .outerjoin(opened, opened.c.outbox_id == outbox.c.id))
        .where(_campaign_rows(campaign, salt))
        .group_by(arm)
    )
    out: dict[str, ArmFunnel] = {}
    for name, planned, sent, delivered, clicked, people_n, bot_rows, bot_n, opened_n in \
            conn.execute(query):
        out[name] = ArmFunnel(name, int(planned), int(sent or 0), int(delivered or 0),
                              int(clicked or 0), int(people_n or 0), int(bot_rows or 0),
                              int(bot_n or 0), int(opened_n or 0))
    return out


def build_funnel(counted: dict[str, ArmFunnel], order: list[str], alpha: float,
                 target: Effect | None) -> Funnel:
    arms = [counted.get(name) or ArmFunnel(name) for name in order]
    for arm in arms:
        if arm.sent:
            arm.ctr_ci = wilson(arm.clicked, arm.sent)
    sent_arms = [a for a in arms if a.sent and a.arm != HOLDOUT]
    baseline = sent_arms[0] if len(sent_arms) >= 2 else None
    contenders = sent_arms[1:] if baseline else []
    level = 1 - alpha / max(1, len(contenders))
    funnel = Funnel(arms, baseline.arm if baseline else None, level)
    if baseline is None:
        return funnel
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    for arm in contenders:
        arm.comparison = two_proportions(arm.clicked, arm.sent, baseline.clicked,
                                         baseline.sent, z)
    significant = [a for a in contenders
                   if a.comparison and a.comparison.p_value < 1 - level]
    if not significant:
        funnel.not_yet = [sensitivity("clicks", a.arm, a.sent, baseline.arm,
                                      baseline.clicked, baseline.sent, 1 - level, target)
                          for a in contenders]
    return funnel


def click_verdict(funnel: Funnel, label: Any, orders_decided: bool) -> str:
    """The verdict on clicks; labelled as such when orders cannot decide yet."""
    base = funnel.arm(funnel.baseline) if funnel.baseline else None
    if base is None or base.ctr is None:
        return ""
    prefix = "" if orders_decided else \
        "On clicks (orders are still too few for a verdict; this is a verdict on clicks): "
    contenders = [a for a in funnel.arms if a.comparison is not None]
    alpha = 1 - funnel.level
    significant = sorted((a for a in contenders if a.comparison and
                          a.comparison.p_value < alpha),
                         key=lambda a: a.comparison.diff if a.comparison else 0, reverse=True)
    if significant:
        best = significant[0]
        assert best.comparison is not None and best.ctr is not None
        c = best.comparison
        word = "more" if c.diff > 0 else "fewer"
        return (f"{prefix}{label(best.arm)} gets {word} clicks than {label(base.arm)}: "
                f"{best.ctr:.1%} vs {base.ctr:.1%} of sent messages clicked "
                f"({c.diff * 100:+.1f} pts, {funnel.level * 100:.3g}% CI "
                f"{c.diff_ci.low * 100:+.1f} to {c.diff_ci.high * 100:+.1f} pts; "
                f"p={c.p_value:.4f}).")
    return (f"{prefix}no difference in click-through shown yet. "
            + describe(funnel.not_yet or [], label))

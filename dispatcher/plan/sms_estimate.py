"""What an SMS campaign run will cost: segments per message, total segments, price.

``plan`` renders the SMS the run would send exactly as the sender will
(dispatcher/plan/render_sample.py: every message up to its render limit, else a stated random
sample) and counts their segments. The total is what the provider bills: a message over
``max_segments`` is skipped at send time (``too_long``), and one whose template raises
on the customer's data is not sent, so neither is billed; both are reported.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from channels.sms_segments import count_segments
from channels.sms_settings import SmsSettings
from dispatcher.plan.render_sample import (
    Measured,
    PlanRun,
    Rendered,
    Total,
    by_arm,
    method,
    render_planned,
)


@dataclass
class SmsEstimate:
    billed: Total  # segments the provider bills
    over_limit: Total  # messages skipped at send time as too long
    problems: Total  # messages whose template raises on the customer's data
    by_segments: Counter[int] = field(default_factory=Counter)  # of the rendered ones
    by_encoding: Counter[str] = field(default_factory=Counter)
    first_problem: str = ""
    arm_messages: Counter[str] = field(default_factory=Counter)  # rendered, per A/B arm
    arm_segments: Counter[str] = field(default_factory=Counter)  # billed, per A/B arm

    @classmethod
    def of(cls, population: int) -> SmsEstimate:
        return cls(Total(population), Total(population), Total(population))

    def count(self, rendered: Rendered, settings: SmsSettings) -> None:
        self.arm_messages[rendered.variant or ""] += 1
        if rendered.message is None:
            self.problems.add(1)
            self.billed.add(0)
            self.over_limit.add(0)
            self.first_problem = self.first_problem or \
                f"customer {rendered.customer_id}: {rendered.problem}"
            return
        self.problems.add(0)
        count = count_segments(rendered.message.text)
        self.by_segments[count.segments] += 1
        self.by_encoding[count.encoding] += 1
        skipped = settings.send_time_skip(rendered.message) is not None
        self.over_limit.add(1 if skipped else 0)
        self.billed.add(0 if skipped else count.segments)
        self.arm_segments[rendered.variant or ""] += 0 if skipped else count.segments


def estimate_sms(run: PlanRun) -> tuple[SmsEstimate, Measured]:
    settings = run.loaded.channel_settings["sms"]
    assert isinstance(settings, SmsSettings)
    estimate = SmsEstimate.of(run.funnel.by_channel.get("sms", 0))
    measured = render_planned(run, "sms", lambda r: estimate.count(r, settings))
    for total in (estimate.billed, estimate.over_limit, estimate.problems):
        total.population = measured.population
    return estimate, measured


def describe(estimate: SmsEstimate, measured: Measured, settings: SmsSettings,
             run: PlanRun) -> list[str]:
    """Lines for ``plan``."""
    if not measured.population:
        return []
    per_message = ", ".join(f"{count} x {segments} segment{'s' if segments > 1 else ''}"
                            for segments, count in sorted(estimate.by_segments.items()))
    encodings = ", ".join(f"{name} {count}" for name, count in sorted(estimate.by_encoding.items()))
    sampled = " (in the sample)" if measured.sampled else ""
    lines = [f"SMS segments per message{sampled}: {per_message or '-'} ({encodings or '-'})",
             f"SMS total segments: {estimate.billed.show()}"]
    arms = by_arm(estimate.arm_segments, estimate.arm_messages, measured, "over")
    if arms:
        lines.append(f"SMS segments billed {arms} messages")
    if settings.price_per_segment is not None:
        price = settings.price_per_segment
        cost = Decimal(str(estimate.billed.estimate)) * price
        margin = Decimal(str(estimate.billed.margin)) * price
        cent = Decimal("0.01")
        shown = f"{cost.quantize(cent)}" if estimate.billed.exact else \
            f"~{cost.quantize(cent)} ± {margin.quantize(cent)}"
        lines.append(f"SMS estimated cost: {shown} {settings.currency} "
                     f"({settings.price_per_segment} per segment)")
    else:
        lines.append("SMS estimated cost: set channels.sms.price_per_segment to see it")
    if estimate.over_limit.total:
        lines.append(f"SMS over the limit of {settings.max_segments} segments "
                     f"(will be skipped): {estimate.over_limit.show()}")
    if estimate.problems.total:
        lines.append(f"SMS whose template raises on the customer's data (the sender would "
                     f"fail them): {estimate.problems.show()}; first: "
                     f"{estimate.first_problem}")
    lines.append(method(measured, "SMS", run))
    return lines


def plan_report(run: PlanRun) -> list[str]:
    """The ``plan`` hook: nothing unless this run sends SMS."""
    if not run.funnel.by_channel.get("sms", 0):
        return []
    settings = run.loaded.channel_settings["sms"]
    assert isinstance(settings, SmsSettings)
    estimate, measured = estimate_sms(run)
    return describe(estimate, measured, settings, run)

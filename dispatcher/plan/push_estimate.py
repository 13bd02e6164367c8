"""Push payloads a run would send that are too large for push services.

``validate`` checks push templates against sample customers; real customers' data (a
long name, a cart of eighty items) can take a payload past the 4096 encrypted bytes a
push service accepts, and the sender then skips it (``payload_too_large``). ``plan``
renders the run's push messages as the sender will (dispatcher/plan/render_sample.py) and
says how many that will be, and whose is the largest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from channels.base import ChannelSettings
from channels.webpush_settings import MAX_ENCRYPTED_BYTES
from dispatcher.plan.render_sample import PlanRun, Rendered, Total, by_arm, method, render_planned


@dataclass
class PushSizes:
    too_large: Total = field(default_factory=lambda: Total(0))
    problems: Total = field(default_factory=lambda: Total(0))
    largest: int = 0
    largest_customer: str = ""
    first_problem: str = ""
    arm_messages: Counter[str] = field(default_factory=Counter)  # rendered, per A/B arm
    arm_too_large: Counter[str] = field(default_factory=Counter)

    def count(self, rendered: Rendered, settings: ChannelSettings) -> None:
        self.arm_messages[rendered.variant or ""] += 1
        if rendered.message is None:
            self.problems.add(1)
            self.too_large.add(0)
            self.first_problem = self.first_problem or \
                f"customer {rendered.customer_id}: {rendered.problem}"
            return
        self.problems.add(0)
        skip = settings.send_time_skip(rendered.message)  # the sender's own check
        self.too_large.add(1 if skip == "payload_too_large" else 0)
        self.arm_too_large[rendered.variant or ""] += skip == "payload_too_large"
        size = int(rendered.message.data.get("encrypted_size", 0))
        if size > self.largest:
            self.largest, self.largest_customer = size, rendered.customer_id


def plan_report(run: PlanRun) -> list[str]:
    """The ``plan`` hook: nothing unless this run sends push messages."""
    if not run.funnel.by_channel.get("push", 0):
        return []
    settings = run.loaded.channel_settings["push"]
    sizes = PushSizes()
    measured = render_planned(run, "push", lambda rendered: sizes.count(rendered, settings))
    if not measured.population:
        return []
    for total in (sizes.too_large, sizes.problems):
        total.population = measured.population
    largest = (f"largest: customer {sizes.largest_customer}, {sizes.largest:,} bytes "
               f"encrypted") if sizes.largest else "none rendered"
    if sizes.too_large.total:
        lines = [f"push payloads over the {MAX_ENCRYPTED_BYTES}-byte limit (will be skipped "
                 f"as payload_too_large): {sizes.too_large.show()} of "
                 f"{measured.population:,} ({largest}); shorten the template's text or "
                 "what it lists"]
        arms = by_arm(sizes.arm_too_large, sizes.arm_messages, measured)
        if arms:
            lines.append(f"push payloads over the limit {arms}")
    else:
        lines = [f"push payloads: none over the {MAX_ENCRYPTED_BYTES}-byte limit "
                 f"({largest})"]
    if sizes.problems.total:
        lines.append(f"push messages whose template raises on the customer's data (the "
                     f"sender would fail them): {sizes.problems.show()}; first: "
                     f"{sizes.first_problem}")
    lines.append(method(measured, "push messages", run))
    return lines

"""An honest "not yet": what a test of this size can see, and what a named effect needs.

A test that shows no significant difference is usually told "N more recipients needed",
with N computed from the observed difference. Under no real effect the observed
difference is noise, N is meaningless, and the advice extends a null test forever.
Instead the report states

- the minimum detectable effect (MDE) at the current sample: the smallest true
  difference the test would find with 80% power at its significance level; smaller
  effects go unseen whatever the data say, and
- for an effect the marketer names (``--mde 1pp``: percentage points; ``--mde 10%``:
  relative to the baseline rate), the recipients each arm needs to find it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dispatcher.reports.stats import sample_size_needed

POWER = 0.8

_EFFECT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(pp|pts?|%)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Effect:
    """An effect size a marketer cares about: absolute points, or relative to a rate."""

    value: float
    relative: bool

    @classmethod
    def parse(cls, text: str) -> Effect:
        match = _EFFECT.match(text)
        if not match or float(match.group(1)) <= 0:
            raise ValueError(f"expected an effect like 1pp (percentage points) or 10% "
                             f"(relative to the baseline rate); got {text!r}")
        number, unit = float(match.group(1)), match.group(2).lower()
        if unit == "%":
            return cls(number / 100, relative=True)
        if number >= 100:
            raise ValueError(f"{text!r} is 100 percentage points or more")
        return cls(number / 100, relative=False)

    def absolute(self, baseline_rate: float) -> float | None:
        delta = self.value * baseline_rate if self.relative else self.value
        return delta if delta > 0 and baseline_rate + delta <= 1 else None

    @property
    def label(self) -> str:
        if self.relative:
            return f"{self.value:.0%} of the baseline rate"
        return f"{self.value * 100:g} percentage points"


def minimum_detectable_effect(p0: float, n0: int, n1: int, alpha: float,
                              power: float = POWER) -> float | None:
    """The smallest increase over the baseline rate ``p0`` that ``n1`` recipients vs
    ``n0`` find with ``power`` at two-sided ``alpha``; None when none would be found."""
    if n0 <= 0 or n1 <= 0 or p0 >= 1:
        return None
    ratio, have = n1 / n0, n0 + n1

    def detectable(delta: float) -> bool:
        needed = sample_size_needed(p0, p0 + delta, ratio, alpha, power)
        return needed is not None and needed <= have

    low, high = 0.0, 1.0 - p0
    if not detectable(high):
        return None
    for _ in range(60):  # bisection: needed recipients fall as the effect grows
        middle = (low + high) / 2
        if detectable(middle):
            high = middle
        else:
            low = middle
    return high


def recipients_needed(p0: float, delta: float, ratio: float, alpha: float,
                      power: float = POWER) -> tuple[int, int] | None:
    """(baseline, arm) recipients to find ``p0 + delta`` with arm:baseline = ``ratio``."""
    total = sample_size_needed(p0, p0 + delta, ratio, alpha, power)
    if total is None:
        return None
    baseline = total / (1 + ratio)
    return math.ceil(baseline), math.ceil(total - baseline)


@dataclass
class Sensitivity:
    """What one not-yet-significant comparison (an arm vs the baseline) can see."""

    measure: str  # "conversion" | "clicks"
    arm: str
    baseline: str
    recipients: int
    baseline_recipients: int
    baseline_rate: float
    alpha: float
    mde: float | None
    target: Effect | None = None
    needed: tuple[int, int] | None = None  # (baseline, arm) recipients for the target

    def as_dict(self) -> dict[str, object]:
        target = self.target.absolute(self.baseline_rate) if self.target else None
        return {
            "arm": self.arm, "baseline": self.baseline, "recipients": self.recipients,
            "baseline_recipients": self.baseline_recipients,
            "baseline_rate": self.baseline_rate, "significance": self.alpha, "power": POWER,
            "minimum_detectable_effect": self.mde,
            "target_effect": target,
            "recipients_needed": None if self.needed is None else
            {"baseline": self.needed[0], "arm": self.needed[1]},
            "recipients_more": None if self.needed is None else
            max(0, self.needed[0] - self.baseline_recipients)
            + max(0, self.needed[1] - self.recipients),
        }


def sensitivity(measure: str, arm: str, n1: int, baseline: str, x0: int, n0: int,
                alpha: float, target: Effect | None) -> Sensitivity:
    p0 = x0 / n0 if n0 else 0.0
    found = Sensitivity(measure, arm, baseline, n1, n0, p0, alpha,
                        minimum_detectable_effect(p0, n0, n1, alpha), target)
    delta = target.absolute(p0) if target else None
    if delta is not None and n0 and n1:
        found.needed = recipients_needed(p0, delta, n1 / n0, alpha)
    return found


def describe(items: list[Sensitivity], label: object) -> str:
    """One paragraph: what the test can detect now, and what the named effect needs."""
    if not items:
        return ""
    name = label if callable(label) else str
    first = items[0]
    measure = "conversion" if first.measure == "conversion" else "click-through"
    same = len(items) > 1 and len({(s.mde, s.recipients, s.needed) for s in items}) == 1
    arms = ([("each variant", first)] if same else [(name(s.arm), s) for s in items])
    seen = ", ".join(f"{_points(s.mde)} for {who}" if s.mde
                     else f"no difference at all for {who} (too few recipients)"
                     for who, s in arms)
    text = (f"At the current sample the smallest {measure} difference this test detects "
            f"(80% power, {first.alpha * 100:.3g}% significance) is {seen}, over "
            f"{first.baseline_rate:.1%} in {name(first.baseline)}; a smaller true effect "
            f"goes unseen however long the test runs.")
    if first.target is None:
        return text
    delta = first.target.absolute(first.baseline_rate)
    if delta is None or first.needed is None:
        return text + (f" An effect of {first.target.label} cannot be sized while the "
                       f"baseline rate is {first.baseline_rate:.1%}.")
    wants = [f"{who} needs about {s.needed[1]:,} recipients (has {s.recipients:,})"
             for who, s in arms if s.needed]
    named = f" ({first.target.label})" if first.target.relative else ""
    return (text + f" To detect {_points(delta)}{named}: "
            + "; ".join(wants) + f", and {name(first.baseline)} about {first.needed[0]:,} "
            f"(has {first.baseline_recipients:,}).")


def _points(delta: float) -> str:
    return f"+{delta * 100:.1f} pts"

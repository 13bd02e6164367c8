"""Config models for the retention mechanics: triggers, sequences, offers, promo codes, loyalty.

Kept apart from models.py so the campaign model only gains a few fields.
"""

from __future__ import annotations

import itertools
import re
import string
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from channels.durations import Duration, PositiveDuration, parse_duration
from dispatcher.config.names import TemplateFolder
from dispatcher.money import Discount, is_currency_code, parse_discount


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _when(value: Any) -> Any:
    """A date (``2026-12-05``) or a local date-time (``2026-12-05 18:00``)."""
    if isinstance(value, (date, datetime)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    raise ValueError(f"expected a date like 2026-12-05 or a time like 2026-12-05 18:00; "
                     f"got {value!r}")


# A date, or a date-time; naive values are in the config's time zone.
When = Annotated[date | datetime, BeforeValidator(_when)]


def _deadline(value: Any) -> datetime:
    """A deadline: a bare date means the end of that day (an offer "until 31 December"
    is still good on the 31st). Always a datetime, so every reader agrees."""
    parsed = _when(value)
    if isinstance(parsed, datetime):
        return parsed
    return datetime.combine(parsed, time(23, 59, 59))


Deadline = Annotated[datetime, BeforeValidator(_deadline)]


# -- triggers ---------------------------------------------------------------------------


class FirstOrderTrigger(Strict):
    """The customer's first order was placed within the last ``within``."""

    within: PositiveDuration = timedelta(hours=24)


class CartAbandonedTrigger(Strict):
    """The newest cart was last updated between ``idle[0]`` and ``idle[1]`` ago,
    and no order was placed since."""

    idle: tuple[Duration, Duration] = (timedelta(hours=2), timedelta(hours=48))

    @field_validator("idle")
    @classmethod
    def _ordered(cls, value: tuple[timedelta, timedelta]) -> tuple[timedelta, timedelta]:
        if value[0] >= value[1]:
            raise ValueError("idle takes [shortest, longest], like [2h, 48h]")
        return value


class OrderMilestoneTrigger(Strict):
    """The order count reached a multiple of ``every`` with an order placed within ``within``."""

    every: int = Field(ge=2, le=1000)
    within: PositiveDuration = timedelta(days=2)


class OrderDeliveredTrigger(Strict):
    """An order was delivered ``ago`` ago (looking back ``within`` further, to survive
    a missed run; once_per: order keeps it to one message per order)."""

    ago: Duration
    within: PositiveDuration = timedelta(days=1)


class TierReachedTrigger(Strict):
    """An order placed within ``within`` took the customer into a higher loyalty tier."""

    within: PositiveDuration | None = timedelta(days=2)


# What each trigger hands to once_per: the cart, the order or the tier it is about.
TRIGGER_SUBJECT = {"first_order": "order", "cart_abandoned": "cart", "order_milestone": "order",
                   "order_delivered": "order", "tier_reached": "tier"}


class TriggerConfig(Strict):
    first_order: FirstOrderTrigger | None = None
    cart_abandoned: CartAbandonedTrigger | None = None
    order_milestone: OrderMilestoneTrigger | None = None
    order_delivered: OrderDeliveredTrigger | None = None
    tier_reached: TierReachedTrigger | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TriggerConfig:
        chosen = [name for name in TRIGGER_SUBJECT if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"a trigger needs exactly one of {', '.join(TRIGGER_SUBJECT)}")
        return self

    @property
    def kind(self) -> str:
        return next(name for name in TRIGGER_SUBJECT if getattr(self, name) is not None)

    @property
    def subject(self) -> str:
        return TRIGGER_SUBJECT[self.kind]


# -- sequences --------------------------------------------------------------------------

_OFFSET = re.compile(r"^\s*([+-]?\s*\d+\s*d)?\s*(\d{1,2}:\d{2})?\s*$")


def parse_offset(value: str) -> tuple[timedelta, time | None]:
    """``-3d`` / ``0d`` / ``+2d 18:00`` / ``18:00`` -> (days, time of day or None)."""
    match = _OFFSET.match(str(value))
    if not match or not (match.group(1) or match.group(2)):
        raise ValueError(f"expected an offset like -3d, 0d, +2d 18:00 or 2d; got {value!r}")
    days = parse_duration(match.group(1).replace(" ", "")) if match.group(1) else timedelta()
    clock = None
    if match.group(2):
        hours, minutes = (int(p) for p in match.group(2).split(":"))
        if hours > 23 or minutes > 59:
            raise ValueError(f"no such time of day: {match.group(2)}")
        clock = time(hours, minutes)
    return days, clock


def _offset(value: Any) -> str:
    if not isinstance(value, str):
        value = str(value)
    parse_offset(value)
    return value


Offset = Annotated[str, BeforeValidator(_offset)]


class StepConfig(Strict):
    name: str = Field(pattern=r"^[a-z0-9_]{1,48}$")
    # Exactly one of: ``at`` from the campaign's starts_at date, ``after`` the previous step.
    at: Offset | None = None
    after: Offset | None = None
    template: TemplateFolder | None = None  # defaults to <campaign template>/<step name>
    channels: list[str] | None = Field(default=None, min_length=1)
    # A customer who ordered since the sequence started leaves it, unless this is set.
    keep_converted: bool = False
    # Whether this step issues the campaign's promo code (announcements usually don't).
    promo: bool = True

    @model_validator(mode="after")
    def _one_anchor(self) -> StepConfig:
        if (self.at is None) == (self.after is None):
            raise ValueError(f"step {self.name!r} needs exactly one of 'at' (offset from "
                             f"starts_at, like -3d or +2d 18:00) or 'after' (like 2d)")
        return self


# -- promo codes ------------------------------------------------------------------------

# No 0/O or 1/I/L: codes are read aloud and typed from SMS.
DEFAULT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class PromoConfig(Strict):
    prefix: str = Field(default="", max_length=16, pattern=r"^[A-Za-z0-9_-]*$")
    length: int = Field(default=10, ge=6, le=32)
    alphabet: str = DEFAULT_ALPHABET
    valid_for: PositiveDuration = timedelta(days=14)
    # "15%" or "200 UAH": templates print it in their own language ("UAH 200", "200 ₴");
    # the shop's checkout applies it.
    discount: Annotated[Discount | None, BeforeValidator(parse_discount)] = None

    @field_validator("alphabet")
    @classmethod
    def _alphabet(cls, value: str) -> str:
        allowed = set(string.ascii_letters + string.digits)
        if len(set(value)) < 16 or not set(value) <= allowed or len(set(value)) != len(value):
            raise ValueError("alphabet needs at least 16 distinct letters/digits, no repeats")
        return value

    @model_validator(mode="after")
    def _strong_enough(self) -> PromoConfig:
        # At least ~40 bits of randomness so codes cannot be guessed at checkout.
        import math

        if self.length * math.log2(len(self.alphabet)) < 40:
            raise ValueError("length x alphabet gives fewer than 40 random bits; "
                             "use a longer code or a larger alphabet")
        return self


# -- loyalty ----------------------------------------------------------------------------


class TierConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    spent: float | None = Field(default=None, ge=0, allow_inf_nan=False)  # spent at least
    orders: int | None = Field(default=None, ge=1)  # or at least this many orders

    @model_validator(mode="after")
    def _threshold(self) -> TierConfig:
        if self.spent is None and self.orders is None:
            raise ValueError(f"tier {self.name!r} needs 'spent' and/or 'orders'")
        return self


class LoyaltyConfig(Strict):
    reward_every: int | None = Field(default=None, ge=2, le=1000)  # every N-th order
    tiers: list[TierConfig] = Field(default_factory=list)  # lowest first
    # ISO currency of the tiers' ``spent``: spent_to_next_tier is then an amount that
    # each language formats ("UAH 3,800", "3 800 ₴").
    currency: str | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not is_currency_code(value):
            raise ValueError(f"not an ISO 4217 currency code: {value!r} (like UAH, EUR)")
        return value

    @field_validator("tiers")
    @classmethod
    def _ascending(cls, tiers: list[TierConfig]) -> list[TierConfig]:
        names = [t.name for t in tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        for low, high in itertools.pairwise(tiers):
            if low.spent is not None and high.spent is not None and high.spent <= low.spent:
                raise ValueError(f"tiers go lowest first: {high.name!r} needs more than "
                                 f"{low.name!r}")
        return tiers


# once_per's named periods and subjects; anything else must be a duration like 30d.
ONCE_PER_FIXED = ("customer", "run", "year", "cart", "order", "tier")


def validate_once_per(value: str) -> str | None:
    """An error message, or None when ``value`` is understood."""
    if value in ONCE_PER_FIXED:
        return None
    try:
        if parse_duration(value) > timedelta(0):
            return None
    except ValueError:
        pass
    return (f"once_per must be one of {', '.join(ONCE_PER_FIXED)} or a duration like 30d; "
            f"got {value!r}")


def check_campaign(once_per: str, trigger: TriggerConfig | None, starts_at: Any,
                   steps: list[StepConfig]) -> None:
    """Cross-field rules of a campaign's mechanics (raise ValueError)."""
    if trigger is not None and once_per in ("cart", "order", "tier") \
            and once_per != trigger.subject:
        raise ValueError(f"once_per: {once_per} needs a trigger about a {once_per}; "
                         f"{trigger.kind} is about a {trigger.subject}")
    if not steps:
        return
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ValueError("step names must be unique within a campaign")
    if steps[0].at is None:
        raise ValueError("the first step needs 'at' (an offset from starts_at)")
    if starts_at is None:
        raise ValueError("a campaign with steps needs starts_at (the date the offsets "
                         "count from)")

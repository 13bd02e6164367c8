"""Amounts with their currency, and discounts, as values: each language formats them.

``Money(200, "UAH")`` is "UAH 200" in an English text and "200 ₴" in a Ukrainian one
(dispatcher.i18n does the formatting when a template prints it); the config holds one
value, never a phrase in one language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str  # ISO 4217, e.g. "UAH"

    def __str__(self) -> str:  # language-neutral; templates print it localized
        return f"{self.amount.normalize():f} {self.currency}"


@dataclass(frozen=True)
class Percent:
    value: Decimal  # 15 for 15%

    def __str__(self) -> str:
        return f"{self.value.normalize():f}%"


Discount = Money | Percent

_PERCENT = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*%\s*$")
_AMOUNT = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([A-Za-z]{3})\s*$")

DISCOUNT_HELP = ("write a percentage like 15% or an amount with its ISO currency code "
                 "like 200 UAH (each language then writes it its own way: "
                 "'200 ₴', 'UAH 200')")


def is_currency_code(code: str) -> bool:
    from babel.numbers import is_currency

    return bool(re.fullmatch(r"[A-Z]{3}", code)) and is_currency(code)


def parse_discount(value: Any) -> Discount | None:
    """``15%`` -> Percent(15); ``200 UAH`` -> Money(200, UAH); ``""`` -> None."""
    if value is None or isinstance(value, (Money, Percent)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit: {DISCOUNT_HELP}")
    text = str(value)
    if not text.strip():
        return None
    if match := _PERCENT.match(text):
        number = _decimal(match.group(1))
        if not 0 < number <= 100:
            raise ValueError(f"a percentage discount is more than 0% and at most 100%; "
                             f"got {text!r}")
        return Percent(number)
    if (match := _AMOUNT.match(text)) and is_currency_code(match.group(2).upper()):
        number = _decimal(match.group(1))
        if number <= 0:
            raise ValueError(f"a discount amount must be more than 0; got {text!r}")
        return Money(number, match.group(2).upper())
    raise ValueError(f"{DISCOUNT_HELP}; got {text!r}")


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the patterns only match numbers
        raise ValueError(f"not a number: {text!r}") from None

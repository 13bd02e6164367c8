"""Template helpers that speak the text's language: CLDR plural forms and amounts.

The language of a text is the language of its template: ``<folder>/uk/sms.txt`` is
Ukrainian, whoever reads it; a template outside a locale folder is in ``shop.locale``
(default ``en``); a template written in config.yaml (an A/B subject) is in the
customer's language. So an English fallback text for a Polish customer gets English
plurals, and "200 UAH" from the config is "UAH 200" in it and "200 ₴" in Ukrainian.

- ``plural(n, one="# order", other="# orders")`` (also a filter: ``n | plural(...)``)
  picks the CLDR form for n (Ukrainian: one / few / many; English: one / other); ``#``
  becomes the number, written for the language. A form the language needs and the
  template lacks, or one it does not have, is an error that ``validate`` reports.
- ``{{ amount | money("UAH") }}`` and any Money / Percent value printed with ``{{ }}``
  (``promo.discount``, ``spent_to_next_tier``) are formatted for the language.

In ``sms.txt`` no-break spaces become plain ones: a single one would turn a Latin text
into UCS-2, 70 characters a segment instead of 160.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal, format_percent, get_currency_symbol

from dispatcher.money import Money, Percent, is_currency_code

CATEGORIES = ("zero", "one", "two", "few", "many", "other")
DEFAULT_LANGUAGE = "en"
_NO_BREAK = str.maketrans({"\u00a0": " ", "\u202f": " "})


@lru_cache(maxsize=256)
def known_locale(name: str | None) -> str | None:
    """``uk`` / ``en_GB`` (from ``en-GB``) if CLDR has it, else None."""
    if not name:
        return None
    try:
        return str(Locale.parse(name.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


@lru_cache(maxsize=64)
def integer_forms(language: str) -> tuple[str, ...]:
    """The plural categories whole numbers fall in (uk: one, few, many; en: one, other)."""
    rule = Locale.parse(language).plural_form
    found = {rule(n) for n in range(0, 1001)} | {rule(10 ** 6), rule(2 * 10 ** 6)}
    return tuple(c for c in CATEGORIES if c in found)


def template_language(context: Any) -> str:
    name = getattr(context, "name", None)
    if name:
        parts = name.replace("\\", "/").split("/")
        folder = known_locale(parts[-2]) if len(parts) >= 2 else None
        if folder:
            return folder
        return _shop_language(context)
    customer = context.get("customer")
    return known_locale(getattr(customer, "locale", None)) or _shop_language(context)


def _shop_language(context: Any) -> str:
    return known_locale(getattr(context.get("shop"), "locale", None)) or DEFAULT_LANGUAGE


def _plain_spaces(context: Any) -> bool:
    return str(getattr(context, "name", None) or "").endswith("sms.txt")


def _finish(context: Any, text: str) -> str:
    return text.translate(_NO_BREAK) if _plain_spaces(context) else text


def _number(value: Any, language: str) -> str:
    return format_decimal(value, locale=language, decimal_quantization=False)


@jinja2.pass_context
def plural(context: Any, count: Any, **forms: str) -> str:
    language = template_language(context)
    if isinstance(count, bool) or not isinstance(count, (int, float, Decimal)):
        raise jinja2.TemplateRuntimeError(f"plural(): the count must be a number; "
                                          f"got {count!r}")
    unknown = [f for f in forms if f not in CATEGORIES]
    if unknown:
        raise jinja2.TemplateRuntimeError(
            f"plural(): unknown form '{unknown[0]}' (CLDR forms: {', '.join(CATEGORIES)})")
    needed = integer_forms(language)
    extra = [f for f in forms if f not in needed and f != "other"]
    if extra:
        raise jinja2.TemplateRuntimeError(
            f"plural(): {language} has no '{extra[0]}' form (it uses {', '.join(needed)})")
    missing = [f for f in needed if f not in forms]
    if missing:
        raise jinja2.TemplateRuntimeError(
            f"plural(): {language} needs the forms {', '.join(needed)}; "
            f"missing {', '.join(missing)}")
    category = Locale.parse(language).plural_form(count)
    form = forms.get(category, forms.get("other"))
    if form is None:  # a fraction in a language whose whole numbers never say 'other'
        raise jinja2.TemplateRuntimeError(
            f"plural(): {count} takes the '{category}' form in {language}; add {category}=")
    return _finish(context, str(form).replace("#", _number(count, language)))


def format_money(amount: Any, currency: str, language: str) -> str:
    """``UAH 1,200`` / ``1 200 ₴`` / ``$1,234.50``: whole amounts without decimals."""
    value = Decimal(str(amount if amount is not None else 0))
    if not is_currency_code(currency):
        # Not an ISO code ("грн", "бонусів"): the number for the language, then the word.
        return f"{_number(value, language)} {currency}".strip()
    locale = Locale.parse(language)
    pattern = locale.currency_formats["standard"].pattern
    if value == value.to_integral_value():
        pattern = pattern.replace("0.00", "0")
    text = format_currency(value, currency, format=pattern, locale=locale,
                           currency_digits=False)
    # CLDR's currency spacing (babel leaves it out): a letter symbol does not touch
    # the digits, "UAH 200" rather than "UAH200".
    symbol = get_currency_symbol(currency, locale)
    if symbol[-1:].isalpha() and text.startswith(symbol) and text[len(symbol):][:1].isdigit():
        text = f"{symbol}\u00a0{text[len(symbol):]}"
    return text


def format_percent_value(value: Percent, language: str) -> str:
    return format_percent(value.value / 100, locale=language, decimal_quantization=False)


@jinja2.pass_context
def money(context: Any, value: Any, currency: str = "") -> str:
    """``{{ cart.total | money(cart.currency) }}``; a Money value needs no currency."""
    language = template_language(context)
    if isinstance(value, Money):
        return _finish(context, format_money(value.amount, value.currency, language))
    return _finish(context, format_money(value, currency, language))


@jinja2.pass_context
def localize(context: Any, value: Any) -> Any:
    """The output hook: a Money or Percent printed with ``{{ }}`` in the text's language."""
    if isinstance(value, Money):
        return _finish(context, format_money(value.amount, value.currency,
                                             template_language(context)))
    if isinstance(value, Percent):
        return format_percent_value(value, template_language(context))
    return value


def register(env: jinja2.Environment) -> None:
    env.globals["plural"] = plural
    env.filters["plural"] = plural
    env.filters["money"] = money
    env.finalize = localize

"""Is a rendered text grammatical about its numbers? A small lexicon of the nouns the
shipped templates count, each form with the CLDR plural categories it is right for,
and a sweep that renders every shipped template for given counts in uk and en."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale

# word -> the CLDR categories of the number it may follow (Ukrainian: 1, 21 -> one;
# 2-4, 22 -> few; 0, 5-20, 25 -> many; English: 1 -> one, else other).
LEXICON: dict[str, dict[str, set[str]]] = {
    "uk": {
        "замовлення": {"one", "few", "other"}, "замовлень": {"many"},
        "день": {"one"}, "дні": {"few"}, "днів": {"many"},
        "подарунок": {"one"}, "подарунки": {"few"}, "подарунків": {"many"},
        "товар": {"one"}, "товари": {"few"}, "товарів": {"many"},
    },
    "en": {
        "order": {"one"}, "orders": {"other"}, "day": {"one"}, "days": {"other"},
        "gift": {"one"}, "gifts": {"other"}, "item": {"one"}, "items": {"other"},
    },
}

# a number, optionally "more" (English), then a word
_PAIR = re.compile(r"(?<![\d.,])(\d+)\s+(?:more\s+)?([^\W\d_]+)", re.UNICODE)


def problems(text: str, language: str) -> list[str]:
    """Every "<number> <counted noun>" whose form is wrong for the number."""
    rule = Locale.parse(language).plural_form
    found = []
    for number, word in _PAIR.findall(re.sub(r"<[^>]+>", " ", text)):
        forms = LEXICON[language].get(word.lower())
        if forms is not None and rule(int(number)) not in forms:
            found.append(f"'{number} {word}' ({number} is {rule(int(number))})")
    return found


def pairs(text: str, language: str) -> list[int]:
    """The numbers that were followed by a counted noun."""
    return [int(n) for n, w in _PAIR.findall(re.sub(r"<[^>]+>", " ", text))
            if w.lower() in LEXICON[language]]


def check_shipped_templates(config: Path, counts: tuple[int, ...]) -> dict[str, dict[int, int]]:
    """Render every template of every campaign (each arm and step, each channel) for a
    Ukrainian and an English customer whose order count and loyalty progress are each of
    ``counts``; assert no wrong form; return how often each count met a counted noun."""
    from channels.base import Recipient
    from channels.registry import SPECS
    from dispatcher.config.load import load_config
    from dispatcher.experiments.render import (
        arms_to_render,
        override_subject,
        variant_context,
        variant_folder,
    )
    from dispatcher.mechanics.checks import template_targets
    from dispatcher.mechanics.context import mechanics_context
    from dispatcher.mechanics.send_checks import SAMPLE_CART, sample_promo
    from dispatcher.message.validate import SAMPLE_ADDRESSES
    from dispatcher.render.compose import compose
    from dispatcher.render.context import CustomerView, OrderStats, build_context
    from dispatcher.render.templating import TemplateRenderer

    loaded = load_config(config)
    renderer = TemplateRenderer(loaded.templates)
    seen: dict[str, dict[int, int]] = {"uk": {}, "en": {}}
    wrong: list[str] = []
    now = datetime(2026, 11, 20, 12, 0)

    def sweep(name: str, variant: str | None, folder: str, channels: list[str],
              promo: bool) -> None:
        campaign = loaded.config.campaigns[name]
        for channel in channels:
            if not any(renderer.has(folder, part) for part in SPECS[channel].parts):
                continue
            for language in ("uk", "en"):
                for n in counts:
                    customer = CustomerView("c1", "Олена Test", language, "Europe/Kyiv",
                                            date(1990, 5, 17), {})
                    stats = OrderStats(n, 1000.0 * n, datetime(2024, 1, 5),
                                       datetime(2026, 6, 1))
                    extra: dict[str, Any] = mechanics_context(
                        loaded, name, customer, stats,
                        sample_promo(loaded, name, now) if promo else None, SAMPLE_CART)
                    # every count a template shows takes each value
                    extra.update(orders_to_next_reward=n, orders_to_next_tier=n)
                    context = build_context(customer, stats, name, campaign,
                                            loaded.config.shop, channel, "https://x.test/u/t",
                                            "https://x.test/p/t", extra)
                    variant_context(loaded, name, variant, context)
                    to = Recipient("c1", SAMPLE_ADDRESSES[channel], customer.name, language,
                                   {})
                    message = compose(channel, renderer, folder, name, to, context)
                    override_subject(renderer, loaded, name, variant, message, context)
                    text = " ".join(filter(None, (message.subject, message.text,
                                                  message.html)))
                    for problem in problems(text, language):
                        wrong.append(f"{folder} {channel} {language} n={n}: {problem}")
                    for number in pairs(text, language):
                        seen[language][number] = seen[language].get(number, 0) + 1

    rendered: set[str] = set()
    for name in loaded.config.campaigns:
        for variant in arms_to_render(loaded, name):
            base = variant_folder(loaded, name, variant)
            for folder, channels, promo in template_targets(loaded, name, base):
                sweep(name, variant, folder, channels, promo)
                rendered.add(folder.split("/")[0])
    # Shipped folders no campaign of the config points at (templates/win_back, the one
    # the docs' examples use) are shipped too: render them as the campaign of their name.
    for folder in sorted(p.name for p in loaded.templates_dir.iterdir() if p.is_dir()):
        if folder not in rendered and folder in loaded.config.campaigns:
            sweep(folder, None, folder, list(SPECS), False)
    assert not wrong, "\n".join(wrong)
    return seen

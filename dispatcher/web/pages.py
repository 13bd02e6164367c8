"""Plain, accessible HTML for the customer-facing pages, in Ukrainian or English."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "lang": "en",
        "bad_link_title": "This link is not valid",
        "bad_link": "This link is not valid. Please use the link from the message itself.",
        "gone_title": "Nothing on file",
        "gone": "We no longer hold this address; you will not get messages at it.",
        "unsubscribe_title": "Unsubscribe",
        "confirm": "Stop sending messages to {address}?",
        "unsubscribe": "Unsubscribe",
        "choose": "Choose what you receive instead",
        "unsubscribed_title": "You are unsubscribed",
        "done": "Done: you will not get these messages any more.",
        "preferences_title": "Your message preferences",
        "channels": "Where we may write to you",
        "topics": "What you want to hear about",
        "channel_label": "{channel}: {address}",
        "save": "Save preferences",
        "saved": "Your preferences are saved.",
        "tracking": "Links in our messages",
        "tracking_label": "Record which links I open (it helps us send fewer, better "
                          "messages); links work either way",
        "email": "Email", "sms": "SMS", "telegram": "Telegram", "webpush": "Browser notifications",
    },
    "uk": {
        "lang": "uk",
        "bad_link_title": "Посилання недійсне",
        "bad_link": "Посилання недійсне. Скористайтеся посиланням із самого листа.",
        "gone_title": "Даних немає",
        "gone": "Ця адреса в нас більше не зберігається; повідомлень на неї не буде.",
        "unsubscribe_title": "Відписатися",
        "confirm": "Більше не надсилати повідомлення на {address}?",
        "unsubscribe": "Відписатися",
        "choose": "Обрати, що отримувати",
        "unsubscribed_title": "Ви відписалися",
        "done": "Готово: ці повідомлення більше не надходитимуть.",
        "preferences_title": "Налаштування розсилок",
        "channels": "Куди нам можна писати",
        "topics": "Про що ви хочете знати",
        "channel_label": "{channel}: {address}",
        "save": "Зберегти",
        "saved": "Налаштування збережено.",
        "tracking": "Посилання в наших повідомленнях",
        "tracking_label": "Запам'ятовувати, якими посиланнями я користуюся (так ми "
                          "надсилатимемо менше й доречніше); посилання працюють у будь-якому "
                          "разі",
        "email": "Email", "sms": "SMS", "telegram": "Telegram", "webpush": "Сповіщення в браузері",
    },
}

TOPIC_LABELS: dict[str, dict[str, str]] = {
    "offers": {"en": "Offers and discounts", "uk": "Пропозиції та знижки"},
    "order_news": {"en": "News about my orders", "uk": "Новини про мої замовлення"},
    "orders": {"en": "News about my orders", "uk": "Новини про мої замовлення"},
    "news": {"en": "Shop news", "uk": "Новини магазину"},
    "surveys": {"en": "Surveys", "uk": "Опитування"},
}


def _lang(locale: str | None) -> str:
    return "uk" if (locale or "").lower().startswith("uk") else "en"


def topic_label(topic: str, locale: str | None) -> str:
    known = TOPIC_LABELS.get(topic)
    if known:
        return known[_lang(locale)]
    return topic.replace("_", " ").capitalize()


def page(status: int, shop: str, locale: str | None, title_key: str, body: str) -> HTMLResponse:
    t = TEXT[_lang(locale)]
    title = escape(t[title_key])
    html = (
        f"<!doctype html><html lang=\"{t['lang']}\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{title} · {escape(shop)}</title>"
        "<style>body{font:1.05rem/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;"
        "padding:0 1rem}fieldset{margin:1rem 0}button{font-size:1rem;padding:.5rem 1rem}"
        "</style></head>"
        f"<body><header><p>{escape(shop)}</p></header><main><h1>{title}</h1>{body}</main>"
        "</body></html>"
    )
    # Never cache a page naming someone's address; never send cookies (RFC 8058).
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

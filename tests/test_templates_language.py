"""Texts speak the customer's language: plural forms by CLDR rules ("1 order",
"2 замовлення", "5 замовлень"), amounts and discounts formatted for each language from
one config value, and the N-th order mechanic telling progress between rewards on all
four channels. Scenarios run the shipped config.yaml and templates through the CLI."""

from __future__ import annotations

import email
import email.policy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from channels.webpush_hosts import PushHostPolicy
from dispatcher.cli.main import app
from dispatcher.push.subscriptions import parse_subscription, save_subscription

from .mechanics_peers import NOW, at, iso
from .shop import ROOT, Shop


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped config and templates, with a day-long window and roomy caps (policy is
    tested elsewhere) and no holdout (every customer here must get the message)."""
    for name in ("DISPATCHER_CONFIG", "SMTP_HOST", "TWILIO_ACCOUNT_SID",
                 "TELEGRAM_BOT_TOKEN", "VAPID_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", f"sqlite:///{tmp_path / 'shop.db'}")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    for old, new in (('allowed: "09:00-21:00"', 'allowed: "00:00-24:00"'),
                     ("global: 3 per 7d", "global: 50 per 7d"),
                     ("holdout: 10%", "holdout: 0%")):
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def cli(folder: Path, *args: str, expect: int = 0) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(folder / "config.yaml")],
                                catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result.output


def jsonl(folder: Path, name: str, rows: list[dict[str, Any]]) -> str:
    path = folder / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return str(path)


def emails(folder: Path, campaign: str) -> dict[str, tuple[str, str]]:
    """customer (the address's local part) -> (subject, plain text) of each .eml."""
    out = {}
    for path in (folder / "outbox" / "email" / campaign).glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        who = str(message["To"]).split("<")[-1].rstrip(">").split("@")[0]
        body = message.get_body(("plain",))
        assert body is not None
        out[who] = (str(message["Subject"]), body.get_content())
    return out


def files(folder: Path, channel: str, campaign: str) -> dict[str, str]:
    """customer id -> everything the customer reads in a .json message of the channel."""
    out = {}
    for path in (folder / "outbox" / channel / campaign).glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        out[data["customer_id"]] = " ".join(filter(None, (data["subject"], data["text"],
                                                          data["html"])))
    return out


def test_win_back_counts_and_discount_in_each_language(shipped: Path) -> None:
    # Given lapsed customers whose order counts hit each Ukrainian plural form
    counts = {"olena": ("uk", 2), "taras": ("uk", 5), "iryna": ("uk", 21),
              "petro": ("uk", 11), "jane": ("en", 1), "john": ("en", 22)}
    cli(shipped, "import", "customers", jsonl(shipped, "customers.jsonl", [
        {"id": cid, "name": f"{cid.title()} Test", "locale": locale, "email":
         f"{cid}@example.com", "email_consent": "yes", "timezone": "Europe/Kyiv"}
        for cid, (locale, _) in counts.items()]))
    cli(shipped, "import", "orders", jsonl(shipped, "orders.jsonl", [
        {"id": f"{cid}-{i}", "customer_id": cid, "placed_at": iso(at(days=120 + i)),
         "total": "100", "currency": "UAH"}
        for cid, (_, n) in counts.items() for i in range(n)]))

    # When the win-back campaign runs (its code is worth `discount: 200 UAH`)
    cli(shipped, "run-once", "win_back", "--wait-retries", "0")
    got = emails(shipped, "win_back")
    assert set(got) == set(counts)

    # Then each text agrees with its number, in the customer's language ...
    assert "2 замовлення" in got["olena"][1] and "2 замовлень" not in got["olena"][1]
    assert "5 замовлень" in got["taras"][1]
    assert "21 замовлення" in got["iryna"][1] and "21 замовлень" not in got["iryna"][1]
    assert "11 замовлень" in got["petro"][1]
    assert "1 order " in got["jane"][1] and "1 orders" not in got["jane"][1]
    assert "22 orders" in got["john"][1]
    # ... and the discount is the one config value, formatted for each language
    for cid in ("jane", "john"):
        text = got[cid][1]
        assert re.search(r"UAH\s200 off", text), text
        assert "грн" not in text and "₴" not in text
    for cid in ("olena", "taras", "iryna", "petro"):
        assert re.search(r"знижка 200\s₴", got[cid][1]), got[cid][1]


def test_post_purchase_message_tells_the_way_to_the_next_gift(shipped: Path) -> None:
    # Given buyers (every 5th order earns a gift) whose order arrived a week ago, each
    # reachable on one channel only, in Ukrainian and in English
    channel_of = {"email": {"email_consent": "yes"},
                  "telegram": {"telegram_consent": "yes"},
                  "sms": {"sms_consent": "yes"}, "push": {}}
    people = []
    for number, channel in enumerate(channel_of):
        for locale in ("uk", "en"):
            cid = f"{channel}-{locale}"
            people.append({"id": cid, "name": f"{channel.title()} Test", "locale": locale,
                           "timezone": "Europe/Kyiv", **channel_of[channel],
                           "email": f"{cid}@example.com" if channel == "email" else None,
                           "telegram_chat_id": str(7000 + number * 2 + (locale == "en"))
                           if channel == "telegram" else None,
                           "phone": f"+38050111{number:02d}{locale == 'en':02d}"
                           if channel == "sms" else None})
    cli(shipped, "import", "customers", jsonl(shipped, "customers.jsonl", people))
    engine = create_engine(f"sqlite:///{shipped / 'shop.db'}")
    for locale in ("uk", "en"):
        endpoint = f"https://fcm.googleapis.com/fcm/send/push-{locale}"
        save_subscription(engine, f"push-{locale}", parse_subscription({
            "endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": "MDEyMzQ1Njc4OWFiY2RlZg"}},
            PushHostPolicy.build()),
            NOW, "Offers as notifications")
    engine.dispose()
    # uk customers have 3 orders (2 more to the gift), en customers 4 (1 more)
    orders = []
    for person in people:
        n = 3 if person["locale"] == "uk" else 4
        for i in range(n):
            delivered = {"delivered_at": iso(at(days=7, hours=3))} if i == n - 1 else {}
            orders.append({"id": f"{person['id']}-{i}", "customer_id": person["id"],
                           "placed_at": iso(at(days=10 + 30 * (n - 1 - i))), "total": "300",
                           "currency": "UAH", **delivered})
    cli(shipped, "import", "orders", jsonl(shipped, "orders.jsonl", orders))

    # When the post-purchase survey goes out
    cli(shipped, "run-once", "post_purchase_survey", "--wait-retries", "0")

    # Then every message, on every channel, says how far the next gift is
    texts = {who: subject + " " + body
             for who, (subject, body) in emails(shipped, "post_purchase_survey").items()}
    for channel in ("telegram", "sms", "push"):
        texts.update(files(shipped, channel, "post_purchase_survey"))
    assert set(texts) == {p["id"] for p in people}
    for channel in channel_of:
        uk, en = texts[f"{channel}-uk"], texts[f"{channel}-en"]
        assert re.search(r"[Щщ]е 2 замовлення до подарунка", uk), (channel, uk)
        assert "1 more order to your gift" in en, (channel, en)


# An uncompressed P-256 point (65 bytes), as PushSubscription.toJSON() gives it.
P256DH = ("BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcY"
          "P7DkM")


def test_plural_helper_refuses_missing_forms(shop: Shop) -> None:
    shop.write_config("{}", "everyone:\n  id: {is_null: false}\n", """
progress:
  segment: everyone
""")
    shop.template("progress/email.subject", "{{ plural(orders_count, one='# order', "
                                            "other='# orders') }}")
    shop.template("progress/email.txt", "Hi")
    # Ukrainian needs one / few / many: a text with two forms cannot be right for 2 and 5
    shop.template("progress/uk/email.subject", "Hi")
    shop.template("progress/uk/email.txt",
                  "Ви маєте\n{{ plural(orders_count, one='# замовлення', other='# замовлень') }}")
    out = shop.cli("validate", expect=2).output
    assert re.search(r"templates/progress/uk/email\.txt:2", out), out
    assert "plural(): uk needs the forms one, few, many; missing few, many" in out
    # English has no 'few': a Ukrainian form in the English text is an error too
    shop.template("progress/uk/email.txt", "{{ plural(orders_count, one='# замовлення', "
                  "few='# замовлення', many='# замовлень') }}")
    shop.template("progress/email.txt", "{{ plural(orders_count, one='# order', "
                  "few='# orders', other='# orders') }}")
    out = shop.cli("validate", expect=2).output
    assert "plural(): en has no 'few' form (it uses one, other)" in out, out
    assert "uk/email.txt" not in out


def test_discount_must_be_a_percentage_or_an_amount_with_currency(shop: Shop) -> None:
    shop.write_config("{}", "everyone:\n  id: {is_null: false}\n", """
offer:
  segment: everyone
  promo: {prefix: "X-", discount: "200 грн"}
""")
    shop.template("offer/email.subject", "Offer")
    shop.template("offer/email.txt", "{{ promo.discount }}")
    out = shop.cli("validate", expect=2).output
    assert re.search(r"config\.yaml:\d+:\d+ campaigns\.offer\.promo\.discount", out), out
    assert "200 UAH" in out and "15%" in out  # the message shows what to write


def test_amounts_are_formatted_for_the_language(shop: Shop) -> None:
    shop.write_config("{}", "everyone:\n  id: {is_null: false}\n", """
offer:
  segment: everyone
  channels: [email, sms]
  promo: {prefix: "X-", discount: "1200 UAH"}
""")
    for folder in ("offer", "offer/uk"):
        shop.template(f"{folder}/email.subject", "Offer")
        shop.template(f"{folder}/email.txt",
                      "[{{ promo.discount }}] [{{ 1234.5 | money('USD') }}] "
                      "[{{ 7 | money('UAH') }}] [{{ plural(3, one='# item', other='# items') if "
                      "customer.locale == 'en' else plural(3, one='#', few='# шт', many='#') }}]")
        shop.template(f"{folder}/sms.txt", "{{ promo.discount }}")
    shop.cli("import", "customers", str(shop.csv("customers.csv", [
        {"id": "ua", "locale": "uk", "email": "ua@example.com", "email_consent": "yes",
         "phone": "+380501234567", "sms_consent": "yes"},
        {"id": "us", "locale": "en", "email": "us@example.com", "email_consent": "yes",
         "phone": "+15005550006", "sms_consent": "yes"}])))
    uk = shop.cli("preview", "offer", "--customer", "ua").output
    en = shop.cli("preview", "offer", "--customer", "us").output
    assert "[1\u00a0200\u00a0₴] [1\u00a0234,50\u00a0USD] [7\u00a0₴] [3 шт]" in uk, uk
    assert "[UAH\u00a01,200] [$1,234.50] [UAH\u00a07] [3 items]" in en, en
    # an SMS costs more in UCS-2: no no-break spaces in a Latin text message
    sms = shop.cli("preview", "offer", "--customer", "us", "--channel", "sms").output
    assert "UAH 1,200" in sms and "GSM-7" in sms, sms


def test_shipped_templates_are_grammatical_for_every_count() -> None:
    """Every shipped template, rendered for 0, 1, 2, 5, 11, 21 and 22 in uk and en: each
    number followed by a counted noun takes the noun's CLDR form for that number."""
    from .grammar import check_shipped_templates

    checked = check_shipped_templates(ROOT / "config.yaml", (0, 1, 2, 5, 11, 21, 22))
    # the sweep saw counted nouns for every count in both languages (it can fail)
    for language in ("uk", "en"):
        for n in (1, 2, 5, 11, 21, 22):
            assert checked[language].get(n, 0) > 0, (language, n, checked)


def test_grammar_check_catches_a_wrong_form() -> None:
    from .grammar import problems

    assert problems("Ваші 2 замовлень і 1 orders", "uk") == ["'2 замовлень' (2 is few)"]
    assert problems("Your 1 orders", "en") == ["'1 orders' (1 is one)"]
    assert problems("Ще 21 замовлення, 5 замовлень, 2 more orders", "uk") == []


"""A signed Twilio webhook captured once cannot be played again to flip consent.

Twilio's signature covers the URL and the parameters, not a time, so a request seen
once (a proxy log, a leaked capture) stays "valid" forever. Each inbound message has
its own MessageSid: the second delivery of a sid changes nothing. And a consent change
older than the state on file never overrides it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dispatcher.clock import utcnow
from dispatcher.policy.optout import ConsentChange, apply_consent_change
from dispatcher.store.db import address_hash
from dispatcher.store.schema import consent_events

from .shop import Shop
from .test_channel_sms import JANE, OLENA, build
from .test_twilio_webhooks import Hooks, inbound
from .twilio_peer import TwilioPeer


@pytest.fixture
def twilio() -> Iterator[TwilioPeer]:
    with TwilioPeer() as peer:
        yield peer


message = inbound  # an inbound SMS as Twilio posts it, with a fresh MessageSid


def sms_events(hooks: Hooks, number: str = OLENA) -> list[tuple[str, str]]:
    with hooks.engine.connect() as conn:
        return [(e.status, e.source) for e in conn.execute(
            select(consent_events).where(
                consent_events.c.channel == "sms",
                consent_events.c.address_hash == address_hash("sms", number))
            .order_by(consent_events.c.id))]


def test_a_replayed_stop_does_not_undo_a_later_start(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    stop, start = message("STOP"), message("START")
    assert hooks.post("/twilio/inbound", stop).status_code == 200
    assert hooks.post("/twilio/inbound", start).status_code == 200
    assert hooks.address(OLENA).consent == "granted"
    history = sms_events(hooks)
    before = hooks.snapshot()

    # When an attacker plays the captured STOP again (same parameters, same signature)
    replay = hooks.post("/twilio/inbound", stop)

    # Then Twilio-style 200 (nothing to retry), and nothing changed
    assert replay.status_code == 200
    assert hooks.snapshot() == before
    assert sms_events(hooks) == history
    assert hooks.address(OLENA).consent == "granted" and hooks.suppression(OLENA) is None
    shop.cli("run-once", "win_back")
    assert len(twilio.sent_to(OLENA)) == 1


def test_a_replayed_start_does_not_undo_a_later_stop(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    start = message("START")
    for params in (message("STOP"), start, message("STOP")):
        assert hooks.post("/twilio/inbound", params).status_code == 200
    before = hooks.snapshot()
    history = sms_events(hooks)

    assert hooks.post("/twilio/inbound", start).status_code == 200

    assert hooks.snapshot() == before and sms_events(hooks) == history
    assert hooks.address(OLENA).consent == "withdrawn"
    assert hooks.suppression(OLENA).reason == "opted_out"
    shop.cli("run-once", "win_back")
    assert twilio.sent_to(OLENA) == [] and len(twilio.sent_to(JANE)) == 1


def test_the_same_keyword_sent_again_as_a_new_message_still_counts(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dedupe is by message, not by text: a person who texts STOP twice is heard twice."""
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    for params in (message("STOP"), message("START"), message("STOP")):
        hooks.post("/twilio/inbound", params)
    assert [status for status, _ in sms_events(hooks)][-3:] == \
        ["withdrawn", "granted", "withdrawn"]
    assert hooks.address(OLENA).consent == "withdrawn"


def test_an_inbound_keyword_without_a_message_sid_changes_nothing(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    before = hooks.snapshot()
    params = {k: v for k, v in message("STOP").items() if k != "MessageSid"}
    assert hooks.post("/twilio/inbound", params).status_code == 400
    assert hooks.snapshot() == before


def _change(opt_in: bool, at: Any) -> ConsentChange:
    return ConsentChange("sms", OLENA, opt_in, "sms:START" if opt_in else "sms:STOP",
                         "START" if opt_in else "STOP", at=at)


def test_a_consent_change_older_than_the_state_on_file_does_not_override_it(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two webhook deliveries committed out of order (a slow worker): the state follows the
    time each change happened, not the order the transactions finished in."""
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    t0 = utcnow()
    earlier, later = t0 + timedelta(minutes=1), t0 + timedelta(minutes=2)
    with hooks.engine.begin() as conn:  # STOP at t0+1, START at t0+2, committed in order
        apply_consent_change(conn, _change(False, earlier), earlier)
        apply_consent_change(conn, _change(True, later), later)
    with hooks.engine.begin() as conn:  # a STOP from t0+1.5 whose commit came last
        apply_consent_change(conn, _change(False, t0 + timedelta(seconds=90)), later)
    olena = hooks.address(OLENA)
    assert (olena.consent, olena.consent_at) == ("granted", later)
    assert hooks.suppression(OLENA) is None
    # the late statement is still kept as history
    assert [s for s, _ in sms_events(hooks)][-3:] == ["withdrawn", "granted", "withdrawn"]

    # And the other way round: an old START never lifts a newer STOP
    with hooks.engine.begin() as conn:
        apply_consent_change(conn, _change(False, later + timedelta(minutes=1)), later)
        apply_consent_change(conn, _change(True, later + timedelta(seconds=30)), later)
    assert hooks.address(OLENA).consent == "withdrawn"
    assert hooks.suppression(OLENA).reason == "opted_out"
    shop.cli("run-once", "win_back")
    assert twilio.sent_to(OLENA) == []


def test_replay_and_ordering_hold_on_both_engines(
        shop: Shop, twilio: TwilioPeer, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    build(shop, twilio, monkeypatch)
    hooks = Hooks(shop)
    stop = message("STOP")
    for params in (stop, message("START"), stop):
        assert hooks.post("/twilio/inbound", params).status_code == 200
    assert hooks.address(OLENA).consent == "granted" and hooks.suppression(OLENA) is None
    # the import's consent, the STOP, the START: the replay added nothing
    assert [s for s, _ in sms_events(hooks)] == ["granted", "withdrawn", "granted"]
    later = utcnow() + timedelta(minutes=5)
    with hooks.engine.begin() as conn:  # a STOP dated before the START on file
        apply_consent_change(conn, _change(False, later - timedelta(minutes=10)), later)
    assert hooks.address(OLENA).consent == "granted" and hooks.suppression(OLENA) is None
    hooks.engine.dispose()

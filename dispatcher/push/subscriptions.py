"""Store and withdraw web push subscriptions (addresses of channel ``push``).

A subscription is an address row: ``address`` is the endpoint URL, ``data`` holds the
browser's ``keys`` (p256dh, auth). A customer may have several (phone, laptop); a
message goes to the newest only (see channels/registry.py), and 404/410 from the push
service deletes the dead one so the next newest takes over.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, and_, delete, select, update

from channels.webpush_hosts import (
    Lookup,
    PushEndpointRefused,
    PushHostPolicy,
    resolve_public,
    system_lookup,
)
from dispatcher.importer.write import upsert
from dispatcher.policy.consent import ConsentChange, apply_changes
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, customers

CHANNEL = "push"
MAX_ENDPOINT = 2048
MAX_CONSENT_TEXT = 500


class BadSubscription(ValueError):
    """The posted subscription is not one a browser would produce."""


@dataclass(frozen=True)
class Subscription:
    endpoint: str
    p256dh: str
    auth: str

    def __repr__(self) -> str:  # the endpoint is a capability URL: keep it out of logs
        return "Subscription(...)"


def _b64decode(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise BadSubscription(f"keys.{name} must be a base64url string")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise BadSubscription(f"keys.{name} is not base64url") from None


def parse_subscription(raw: Any, policy: PushHostPolicy) -> Subscription:
    """Check a ``PushSubscription.toJSON()`` object; BadSubscription says what is wrong.

    The endpoint must be a URL ``policy`` allows (an https URL of a known push service,
    channels/webpush_hosts.py); whether its name resolves to public addresses is
    ``check_endpoint_host``'s part, done before the subscription is stored.
    """
    if not isinstance(raw, dict):
        raise BadSubscription("subscription must be an object with endpoint and keys")
    endpoint = raw.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT:
        raise BadSubscription("endpoint must be a URL")
    try:
        policy.check_url(endpoint)
    except PushEndpointRefused as exc:
        raise BadSubscription(str(exc)) from None
    keys = raw.get("keys")
    if not isinstance(keys, dict):
        raise BadSubscription("keys must be an object with p256dh and auth")
    point = _b64decode(keys.get("p256dh"), "p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise BadSubscription("keys.p256dh is not a P-256 public key") from None
    if len(_b64decode(keys.get("auth"), "auth")) != 16:
        raise BadSubscription("keys.auth must be 16 bytes")
    return Subscription(endpoint, str(keys["p256dh"]), str(keys["auth"]))


async def check_endpoint_host(subscription: Subscription, policy: PushHostPolicy,
                              lookup: Lookup | None = None) -> None:
    """Resolve the endpoint's push service now: BadSubscription when any address is not
    public. A failed lookup raises OSError (try again later; nothing is stored)."""
    try:
        host = policy.check_url(subscription.endpoint)
        if host is None:  # an allowed loopback development origin: nothing to resolve
            return
        await resolve_public(host, 443, lookup or system_lookup)
    except PushEndpointRefused as exc:
        raise BadSubscription(str(exc)) from None


def save_subscription(engine: Engine, customer_id: str, subscription: Subscription,
                      now: datetime, consent_text: str | None = None,
                      source: str = "web push subscribe") -> None:
    """Store (or refresh) a subscription as granted for ``customer_id``, in one transaction."""
    digest = address_hash(CHANNEL, subscription.endpoint)
    with engine.begin() as conn:
        # A push subscription can arrive before the customer import: keep a bare row
        # that the next import fills in.
        upsert(conn, customers, [{"id": customer_id, "attributes": {}, "created_at": now,
                                  "updated_at": now}], ["id"], [])
        # One browser, one owner: when another customer logs in on the same browser,
        # the subscription moves to them, so the previous customer's offers stop there.
        conn.execute(delete(addresses).where(and_(
            addresses.c.channel == CHANNEL, addresses.c.address_hash == digest,
            addresses.c.customer_id != customer_id)))
        upsert(conn, addresses, [{
            "customer_id": customer_id, "channel": CHANNEL, "address": subscription.endpoint,
            "address_hash": digest,
            "data": {"keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}},
            "consent": "granted", "consent_at": now, "consent_source": source,
            "consent_text": (consent_text or "")[:MAX_CONSENT_TEXT] or None,
            "invalid_at": None, "invalid_reason": None, "created_at": now,
        }], ["customer_id", "channel", "address_hash"],
            ["address", "data", "invalid_at", "invalid_reason"])
        # The consent history gets the event; a newer subscribe lifts an earlier
        # unsubscribe of this same browser (the person asked again, explicitly).
        apply_changes(conn, [ConsentChange(customer_id, CHANNEL, digest, "granted", now,
                                           source, (consent_text or "")[:MAX_CONSENT_TEXT]
                                           or None)], now)


def withdraw_subscription(engine: Engine, endpoint: str, now: datetime,
                          source: str = "web push unsubscribe") -> int:
    """Withdraw consent for the subscription (an event in the consent history, and the
    endpoint suppressed until the browser subscribes again); rows changed."""
    digest = address_hash(CHANNEL, endpoint)
    with engine.begin() as conn:
        # Only endpoints we hold: a stranger posting made-up endpoints writes nothing.
        held = [ConsentChange(r.customer_id, CHANNEL, digest, "withdrawn", now, source)
                for r in conn.execute(select(addresses.c.customer_id).where(
                    addresses.c.channel == CHANNEL, addresses.c.address_hash == digest))]
        return apply_changes(conn, held, now)


def replace_subscription(engine: Engine, old_endpoint: str, new: Subscription) -> int:
    """The browser rotated its subscription (``pushsubscriptionchange``): move each row of
    the old endpoint to the new one, keeping its customer and its consent as they are.

    Knowing the old endpoint is the proof, as for unsubscribe: only the browser (and we)
    know it. Returns the number of subscriptions moved.
    """
    old_digest = address_hash(CHANNEL, old_endpoint)
    new_digest = address_hash(CHANNEL, new.endpoint)
    keys = {"keys": {"p256dh": new.p256dh, "auth": new.auth}}
    moved = 0
    with engine.begin() as conn:
        rows = conn.execute(select(addresses.c.id, addresses.c.customer_id).where(
            addresses.c.channel == CHANNEL, addresses.c.address_hash == old_digest)).all()
        for row in rows:  # one row per customer who ever used this browser: a handful
            clash = conn.execute(select(addresses.c.id).where(
                addresses.c.customer_id == row.customer_id, addresses.c.channel == CHANNEL,
                addresses.c.address_hash == new_digest)).first()
            if clash is not None:  # the new one is already on file: the old row goes
                conn.execute(delete(addresses).where(addresses.c.id == row.id))
                continue
            conn.execute(update(addresses).where(addresses.c.id == row.id).values(
                address=new.endpoint, address_hash=new_digest, data=keys,
                invalid_at=None, invalid_reason=None))
            moved += 1
    return moved

"""First delivery wins: a provider message id is acted on once.

Webhook signatures (Twilio's) cover the content but not a time, so the same signed
request can arrive again: the provider retrying, or anyone who captured it replaying
it. ``first_receipt`` records the id in the caller's transaction and says whether this
is the first time; the caller acts only then, so recording and acting commit together.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from dispatcher.store.schema import inbound_messages

MAX_MESSAGE_ID = 64


def first_receipt(conn: Connection, provider: str, message_id: str, now: datetime) -> bool:
    """Record ``message_id`` of ``provider``; False when it was recorded before."""
    if not message_id or len(message_id) > MAX_MESSAGE_ID:
        raise ValueError("a message id of 1-64 characters is required")
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # RETURNING, not rowcount: drivers disagree on rowcount for a skipped ON CONFLICT.
    inserted = conn.execute(dialect.insert(inbound_messages).values(
        provider=provider, message_id=message_id, received_at=now)
        .on_conflict_do_nothing(index_elements=["provider", "message_id"])
        .returning(inbound_messages.c.message_id)).first()
    return inserted is not None

"""Database schema (SQLAlchemy Core). All timestamps are naive UTC.

The outbox is the ledger: planning inserts rows, workers lease and send them,
and caps, dedupe and reports are computed from it.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# BigInteger ids autoincrement on PostgreSQL; SQLite needs plain INTEGER for rowid aliasing.
Id = BigInteger().with_variant(Integer(), "sqlite")

customers = Table(
    "customers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text),
    Column("locale", String(16)),
    Column("timezone", String(64)),
    Column("birthday", Date),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # Set on the pseudonymous stand-in ``forget`` leaves: it holds the erased person's
    # orders so reports keep their revenue, and no segment ever selects it.
    Column("erased_at", DateTime),
)

# One row per way to reach a customer: an email address, a phone number, a
# Telegram chat id or a web-push endpoint (with its keys in ``data``).
addresses = Table(
    "addresses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), ForeignKey("customers.id", ondelete="CASCADE"),
           nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", Text, nullable=False),
    Column("address_hash", String(64), nullable=False),
    Column("data", JSON),
    Column("consent", String(16)),  # 'granted' | 'withdrawn' | NULL (never asked)
    Column("consent_at", DateTime),
    Column("consent_source", Text),
    Column("consent_text", Text),
    Column("invalid_at", DateTime),  # provider said the address is not deliverable
    Column("invalid_reason", Text),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("customer_id", "channel", "address_hash"),
    Index("ix_addresses_channel_hash", "channel", "address_hash"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("customer_id", String(64), ForeignKey("customers.id", ondelete="CASCADE"),
           nullable=False),
    Column("placed_at", DateTime, nullable=False),
    Column("total", Numeric(14, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("promo_code", String(64)),
    Column("status", String(32)),
    Column("delivered_at", DateTime),
    Index("ix_orders_customer_placed", "customer_id", "placed_at"),
    Index("ix_orders_promo_code", "promo_code"),
)

carts = Table(
    "carts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("customer_id", String(64), ForeignKey("customers.id", ondelete="CASCADE"),
           nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("total", Numeric(14, 2)),
    Column("currency", String(3)),
    Column("items", JSON),
    Index("ix_carts_customer_updated", "customer_id", "updated_at"),
)

# A run is one firing of one campaign step for one scheduled time; the unique key
# is what makes planning the same run twice plan it once.
runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("campaign", String(128), nullable=False),
    Column("step", String(64), nullable=False, default=""),
    Column("scheduled_for", DateTime, nullable=False),
    Column("status", String(16), nullable=False),  # planning|planned|done|missed|failed
    Column("funnel", JSON),
    # The experiment (salt, holdout, weights) this run assigned with; validate warns
    # when the config's differs while the outbox holds rows of the campaign.
    Column("experiment", JSON),
    Column("created_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    UniqueConstraint("campaign", "step", "scheduled_for"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", BigInteger, ForeignKey("runs.id"), nullable=False),
    Column("campaign", String(128), nullable=False),
    Column("step", String(64), nullable=False, default=""),
    Column("customer_id", String(64), nullable=False),
    Column("channel", String(16)),
    Column("address_id", BigInteger),
    Column("variant", String(64)),
    Column("topic", String(64)),
    Column("kind", String(16)),  # marketing | transactional
    # dispatcher.store.states.OutboxStatus: pending | sending | sent | failed | uncertain |
    # skipped | held_out
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    # Rows that count as "done" for the campaign carry a key; skipped rows don't,
    # so a customer skipped today can still be messaged on a later run.
    Column("dedupe_key", String(128)),
    Column("not_before", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", DateTime),
    Column("leased_by", String(64)),
    # Fencing: written by the claim, unique per claim. Start marks, outcomes, lease
    # extensions and releases apply only while the row still carries the claim's token,
    # so a worker whose lease expired (and was taken over) can no longer touch the row.
    Column("claim_token", String(32)),
    # Set (and committed) just before the provider call: a 'sending' row whose lease
    # expired is 'uncertain' only if it had started; an unstarted one is pending again.
    # Kept once the outcome is recorded (when the send started).
    Column("send_started_at", DateTime),
    Column("provider_id", Text),
    Column("error_class", String(16)),
    Column("last_error", Text),
    Column("data", JSON),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("sent_at", DateTime),
    # What the provider reported after accepting the message (Twilio status callbacks):
    # delivered | undelivered | failed | sent | ..., with the provider's error code.
    Column("delivery_status", String(16)),
    Column("delivery_code", String(32)),
    Column("delivery_at", DateTime),
    # One answer per message to "did it arrive?": true when the channel confirmed it
    # (SMTP 250, push service 201, Telegram ok at send; SMS from Twilio's 'delivered'
    # callback), false when it failed or came back undelivered, NULL while unknown.
    Column("delivered", Boolean),
    UniqueConstraint("campaign", "step", "dedupe_key"),
    Index("ix_outbox_status_not_before", "status", "not_before"),
    Index("ix_outbox_customer_created", "customer_id", "created_at"),
    Index("ix_outbox_run", "run_id"),
    Index("ix_outbox_provider_id", "provider_id"),  # status callbacks find rows by it
    # Frequency caps look up recent sends by time (dispatcher.policy.caps).
    Index("ix_outbox_sent_at", "sent_at"),
)

# Who must never be messaged on a channel, by address hash so that erasure can
# keep the suppression without keeping the address.
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("address_hash", String(64), nullable=False),
    Column("reason", String(32), nullable=False),  # opted_out | bounced | provider_gone | erased
    Column("source", Text),
    Column("provider_code", String(32)),
    Column("campaign", String(128)),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("channel", "address_hash"),
)

# Test sends are kept apart from the outbox so they never count toward caps or reports.
test_sends = Table(
    "test_sends",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("campaign", String(128), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("provider_id", Text),
    Column("created_at", DateTime, nullable=False),
)

# Personal one-time promo codes, issued at send time (one per outbox row) and
# redeemed by the first imported order that carries the code.
promo_codes = Table(
    "promo_codes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False),
    Column("campaign", String(128), nullable=False),
    Column("step", String(64), nullable=False, default=""),
    Column("customer_id", String(64), nullable=False),
    Column("outbox_id", BigInteger),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("redeemed_at", DateTime),
    Column("redeemed_order_id", String(64)),
    UniqueConstraint("code"),
    UniqueConstraint("outbox_id"),
    Index("ix_promo_codes_campaign", "campaign"),
)

# Per-campaign operational state: paused by a person or by the error-rate guard.
campaign_state = Table(
    "campaign_state",
    metadata,
    Column("campaign", String(128), primary_key=True),
    Column("paused_at", DateTime),
    Column("paused_by", String(16)),  # 'operator' | 'error_rate'
    Column("paused_reason", Text),
    Column("updated_at", DateTime, nullable=False),
)

# Consent history: every grant or withdrawal, where it came from and the wording
# shown. ``addresses.consent`` holds the current state; this is the proof. Keyed by
# address hash (not the address) so the history holds no contact data.
consent_events = Table(
    "consent_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # granted | withdrawn
    Column("at", DateTime, nullable=False),  # when the person said it
    Column("source", Text, nullable=False),  # import | one-click | preferences | sms STOP ...
    Column("text", Text),  # the wording shown when consent was asked
    Column("recorded_at", DateTime, nullable=False),
    Index("ix_consent_events_customer", "customer_id"),
    Index("ix_consent_events_channel_hash", "channel", "address_hash"),
)

# Topics a customer switched off on the preference page ("offers" but not "order news").
topic_optouts = Table(
    "topic_optouts",
    metadata,
    Column("customer_id", String(64), ForeignKey("customers.id", ondelete="CASCADE"),
           primary_key=True),
    Column("topic", String(64), primary_key=True),
    Column("source", Text),
    Column("created_at", DateTime, nullable=False),
)

# Bounce reports (webhook or file); hard bounces suppress at once, soft ones count.
bounces = Table(
    "bounces",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("address_hash", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # hard | soft
    Column("code", String(32)),
    Column("reason", Text),
    Column("source", Text),
    Column("at", DateTime, nullable=False),
    Index("ix_bounces_channel_hash_at", "channel", "address_hash", "at"),
)

# Provider messages that changed consent (Twilio's MessageSid of a STOP or START), so
# a webhook delivered again, or replayed by someone who captured it, changes nothing.
# A signature never expires, so the ids are kept; only consent keywords are recorded.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("provider", String(16), primary_key=True),
    Column("message_id", String(64), primary_key=True),
    Column("received_at", DateTime, nullable=False),
)

# Each time someone looks at a campaign's A/B report: repeated looks before the planned
# sample size are "peeking", and the report warns about it.
report_views = Table(
    "report_views",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("campaign", String(128), nullable=False),
    Column("recipients", Integer, nullable=False),
    Column("viewed_at", DateTime, nullable=False),
    Index("ix_report_views_campaign", "campaign", "viewed_at"),
)

# Link tracking (dispatcher/tracking): the destinations of one sent message's rewritten
# links, written before it is sent. A click's signed token names (outbox_id, link); the
# redirect goes here, never to anything the request carries.
tracked_links = Table(
    "tracked_links",
    metadata,
    Column("outbox_id", BigInteger, primary_key=True),
    Column("link", Integer, primary_key=True),
    Column("url", Text, nullable=False),
)

# Every request to a tracked link, people and machines alike. ``bot`` names why a click
# is not a person's (head | bot | scanner | prefetch), NULL otherwise; the report also
# counts a message's burst (every link clicked within seconds of delivery) as bots.
clicks = Table(
    "clicks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("outbox_id", BigInteger, nullable=False),
    Column("link", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("agent", String(16), nullable=False),  # user agent class, never the agent itself
    Column("bot", String(16)),
    Index("ix_clicks_outbox_id", "outbox_id"),
)

# Email opens (the 1x1 image of campaigns with track_opens): unreliable, since mail
# clients and privacy proxies fetch images unopened; reported, never used for a verdict.
opens = Table(
    "opens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("outbox_id", BigInteger, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("agent", String(16), nullable=False),
    Index("ix_opens_outbox_id", "outbox_id"),
)

# Customers who switched click and open recording off on the preference page: their
# links still work, nothing about their clicks is stored.
tracking_optouts = Table(
    "tracking_optouts",
    metadata,
    Column("customer_id", String(64), ForeignKey("customers.id", ondelete="CASCADE"),
           primary_key=True),
    Column("source", Text),
    Column("created_at", DateTime, nullable=False),
)

"""Ratio 3: `plan` of the win-back campaign vs one hand-written INSERT ... SELECT.

Both compute the same rows (who gets the message on which address, and why each
other lapsed customer is skipped); the comparison checks they match row for row.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from dispatcher.app import latest_fire_time
from dispatcher.config.load import LoadedConfig, load_config
from dispatcher.plan.planner import plan_run
from dispatcher.store.schema import runs

# The hand-written side writes into a table shaped and indexed like the outbox (the
# ledger's indexes and its foreign key to runs are part of what planning pays for).
HAND_TABLE = """CREATE TABLE hand_plan (id {id_type}, run_id BIGINT NOT NULL REFERENCES runs (id),
    campaign VARCHAR(128) NOT NULL, step VARCHAR(64) NOT NULL, customer_id VARCHAR(64) NOT NULL,
    channel VARCHAR(16), address_id BIGINT, topic VARCHAR(64), kind VARCHAR(16),
    status VARCHAR(16) NOT NULL, reason TEXT, dedupe_key VARCHAR(128),
    not_before TIMESTAMP NOT NULL, attempts INTEGER NOT NULL, created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL, UNIQUE (campaign, step, dedupe_key))"""
HAND_INDEXES = [
    "CREATE INDEX ix_hand_plan_status ON hand_plan (status, not_before)",
    "CREATE INDEX ix_hand_plan_customer ON hand_plan (customer_id, created_at)",
    "CREATE INDEX ix_hand_plan_run ON hand_plan (run_id)",
]

# What a person would write by hand for: lapsed 90+ days, email, consented and not
# suppressed, topic not switched off, at most 2 marketing messages in 7 days (sent or
# still pending), not handled by this campaign in the last 30 days (once_per: 30d).
HAND_PLAN = """
INSERT INTO hand_plan (run_id, campaign, step, customer_id, channel, address_id, topic, kind,
                       status, reason, dedupe_key, not_before, attempts, created_at,
                       updated_at)
SELECT :run_id, 'win_back', '', au.customer_id,
       CASE WHEN r.address_id IS NOT NULL THEN 'email' END,
       r.address_id, 'offers', 'marketing',
       CASE WHEN r.address_id IS NOT NULL AND t.customer_id IS NULL
                 AND coalesce(c.recent, 0) < 2 THEN 'pending' ELSE 'skipped' END,
       CASE WHEN r.address_id IS NULL THEN
                CASE WHEN f.customer_id IS NULL THEN 'no_address'
                     WHEN f.granted = 0 AND f.withdrawn = 1 THEN 'opted_out'
                     WHEN f.granted = 0 THEN 'no_consent'
                     ELSE 'suppressed' END
            WHEN t.customer_id IS NOT NULL THEN 'topic_opted_out'
            WHEN coalesce(c.recent, 0) >= 2 THEN 'capped:global 2/7d' END,
       CASE WHEN r.address_id IS NOT NULL AND t.customer_id IS NULL
                 AND coalesce(c.recent, 0) < 2 THEN au.customer_id || :key_suffix END,
       :now, 0, :now, :now
FROM (SELECT customer_id FROM orders GROUP BY customer_id
      HAVING max(placed_at) < :cutoff) AS au
LEFT JOIN (SELECT a.customer_id, min(a.id) AS address_id FROM addresses a
           WHERE a.channel = 'email' AND a.consent = 'granted' AND a.invalid_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM suppressions s
                             WHERE s.channel = a.channel AND s.address_hash = a.address_hash)
           GROUP BY a.customer_id) AS r ON r.customer_id = au.customer_id
LEFT JOIN (SELECT customer_id,
                  max(CASE WHEN consent = 'granted' THEN 1 ELSE 0 END) AS granted,
                  max(CASE WHEN consent = 'withdrawn' THEN 1 ELSE 0 END) AS withdrawn
           FROM addresses WHERE channel = 'email' GROUP BY customer_id) AS f
       ON f.customer_id = au.customer_id
LEFT JOIN topic_optouts t ON t.customer_id = au.customer_id AND t.topic = 'offers'
LEFT JOIN (SELECT customer_id, count(*) AS recent FROM outbox
           WHERE status IN ('pending', 'sending', 'sent', 'uncertain')
             AND coalesce(kind, 'marketing') = 'marketing'
             AND coalesce(sent_at, not_before) > :cap_from
           GROUP BY customer_id) AS c ON c.customer_id = au.customer_id
WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.campaign = 'win_back' AND o.step = ''
                  AND o.customer_id = au.customer_id AND o.dedupe_key IS NOT NULL
                  AND o.created_at > :window)
"""

COLUMNS = "customer_id, channel, address_id, status, reason, dedupe_key"


def _reset(engine: Engine, now: datetime) -> int:
    """Empty ledger, a fresh hand_plan table and a run row for it; returns that run's id."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS hand_plan"))
        conn.execute(text("DELETE FROM outbox"))
        conn.execute(text("DELETE FROM runs"))
        conn.execute(text(HAND_TABLE.format(
            id_type="INTEGER PRIMARY KEY" if sqlite else "BIGSERIAL PRIMARY KEY")))
        for statement in HAND_INDEXES:
            conn.execute(text(statement))
        conn.execute(insert(runs).values(campaign="hand", step="", scheduled_for=now,
                                         status="planned", created_at=now))
        run_id = int(conn.execute(text("SELECT max(id) FROM runs")).scalar_one())
        # Last week's newsletter, so the cap has something to count: one message to
        # every customer whose id ends in 0 or 5, a second one to those ending in 0.
        for number, pattern in ((1, "'%0' OR id LIKE '%5'"), (2, "'%0'")):
            conn.execute(text(
                "INSERT INTO outbox (run_id, campaign, step, customer_id, channel, topic, "
                "kind, status, dedupe_key, not_before, attempts, created_at, updated_at, "
                f"sent_at) SELECT :run, 'newsletter', '', id, 'email', 'news', 'marketing', "
                f"'sent', id || '@{number}', :at, 1, :at, :at, :at FROM customers "
                f"WHERE id LIKE {pattern}"), {"run": run_id, "at": now - timedelta(days=2)})
        return run_id


def _hand(engine: Engine, run_id: int, scheduled_for: datetime, now: datetime) -> float:
    # the once_per: 30d key, as dispatcher.plan.dedupe spells it
    bucket = int(scheduled_for.timestamp() // timedelta(days=30).total_seconds())
    params = {"cutoff": now - timedelta(days=90), "window": now - timedelta(days=30),
              "cap_from": now - timedelta(days=7),
              "run_id": run_id, "key_suffix": f"@30d:{bucket}", "now": now}
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(HAND_PLAN), params)
    return time.perf_counter() - started


def _plan(engine: Engine, loaded: LoadedConfig, scheduled: datetime,
          now: datetime) -> float:
    started = time.perf_counter()
    plan_run(engine, loaded, "win_back", scheduled, now)
    return time.perf_counter() - started


def _difference(engine: Engine) -> tuple[int, int, int]:
    """(planner rows, planner rows not in hand, hand rows not in planner)."""
    planner = f"SELECT {COLUMNS} FROM outbox WHERE campaign = 'win_back'"
    hand = f"SELECT {COLUMNS} FROM hand_plan"
    with engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM outbox WHERE campaign = 'win_back'")
                             ).scalar_one()
        only_planner = conn.execute(text(
            f"SELECT count(*) FROM ({planner} EXCEPT {hand}) AS d")).scalar_one()
        only_hand = conn.execute(text(
            f"SELECT count(*) FROM ({hand} EXCEPT {planner}) AS d")).scalar_one()
        hand_total = conn.execute(text("SELECT count(*) FROM hand_plan")).scalar_one()
    if hand_total != total:  # EXCEPT is set-based: duplicates would hide there
        only_hand = max(only_hand, abs(hand_total - total))
    return int(total), int(only_planner), int(only_hand)


def measure(engine: Engine, config: Path, repeat: int = 2) -> dict[str, Any]:
    """Alternate hand / plan ``repeat`` times on the same data; keep the best of each."""
    from dispatcher.clock import utcnow

    loaded = load_config(config)
    hand_times, plan_times = [], []
    rows = mismatched = 0
    reasons: dict[str, int] = {}
    for _ in range(repeat):
        now = utcnow()
        scheduled = latest_fire_time(loaded, "win_back", now)
        run_id = _reset(engine, now)
        hand_times.append(_hand(engine, run_id, scheduled, now))
        plan_times.append(_plan(engine, loaded, scheduled, now))
        rows, only_planner, only_hand = _difference(engine)
        mismatched = max(mismatched, only_planner + only_hand)
        with engine.connect() as conn:
            reasons = {str(reason or status): int(n) for status, reason, n in conn.execute(text(
                "SELECT status, reason, count(*) FROM outbox WHERE campaign = 'win_back' "
                "GROUP BY status, reason"))}
    _reset(engine, utcnow())
    return {"plan_seconds": min(plan_times), "hand_seconds": min(hand_times),
            "rows": rows, "mismatched_rows": mismatched, "reasons": reasons,
            "plan_all": plan_times, "hand_all": hand_times}

"""A variant's own channel order: the planner picks each arm's first reachable channel.

The core ships one channel (email), so this test registers a second, file-backed
channel ("memo") the way a channel module does: one ChannelSpec.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from channels.base import Channel, ChannelSettings, Recipient, RenderedMessage
from channels.registry import SPECS
from channels.spec import ChannelSpec
from dispatcher.store.db import address_hash
from dispatcher.store.schema import addresses, outbox

from .reports_shop import CHANNELS, SEGMENTS, build, campaign_yaml, engine
from .shop import Shop


def compose_memo(renderer: Any, folder: str, campaign: str, to: Recipient,
                 context: dict[str, Any]) -> RenderedMessage:
    text = renderer.render(folder, "memo.txt", to.locale, context) or ""
    return RenderedMessage(campaign=campaign, channel="memo", customer_id=to.customer_id,
                           to=to.address, text=text)


@pytest.fixture
def memo_channel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def no_provider(settings: ChannelSettings, base_dir: Any) -> Channel:
        raise AssertionError("the memo channel has only the file transport")

    monkeypatch.setitem(SPECS, "memo", ChannelSpec(
        name="memo", settings=ChannelSettings, build=no_provider, parts=("memo.txt",),
        compose=compose_memo, test_mark="text"))
    yield


def test_each_variant_uses_its_own_channel_order(shop: Shop, memo_channel: None) -> None:
    build(shop, 200)
    shop.template("promo/memo.txt", "Hi {{ customer.first_name }}")
    campaign = campaign_yaml().replace("  channels: [email]", "  channels: [email, memo]")
    campaign = campaign.replace("    B:\n", "    B:\n      channels: [memo, email]\n")
    shop.write_config(CHANNELS + "memo:\n  transport: file\n", SEGMENTS, campaign)
    eng = engine(shop)
    now = datetime.now(UTC).replace(tzinfo=None)
    with eng.begin() as conn:
        ids = [r.customer_id for r in conn.execute(select(addresses.c.customer_id))]
        conn.execute(insert(addresses), [
            {"customer_id": cid, "channel": "memo", "address": f"memo-{cid}",
             "address_hash": address_hash("memo", f"memo-{cid}"), "consent": "granted",
             "created_at": now} for cid in ids])
    shop.cli("run-once", "promo")
    with eng.connect() as conn:
        rows = conn.execute(select(outbox.c.variant, outbox.c.channel, outbox.c.status)).all()
    by_arm: dict[str, set[str]] = {}
    for variant, channel, status in rows:
        by_arm.setdefault(variant, set()).add(channel)
        assert status == ("held_out" if variant == "holdout" else "sent")
    assert by_arm == {"A": {"email"}, "B": {"memo"}, "holdout": {"email"}}
    memos = list((shop.folder / "outbox" / "memo" / "promo").glob("*.json"))
    assert len(memos) == sum(1 for v, _, _ in rows if v == "B")

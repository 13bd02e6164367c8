"""Which channel a message goes out on, with channel caps taken into account.

A campaign lists channels in order of preference; the message goes to the first one
that reaches the customer *and* still has room under its channel cap
(``caps.channels``), so a customer who had their weekly SMS gets the email instead
of nothing. When every reachable channel is capped, the first reachable one is
chosen and the policy gate records the cap that stopped it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal

from dispatcher.config.load import LoadedConfig
from dispatcher.policy.caps import AppliedCap, cap_counts, caps_for


class ChannelChooser:
    """Builds the CASE expressions choosing (channel, address_id) for an order."""

    def __init__(self, loaded: LoadedConfig, campaign_name: str, channels: list[str],
                 reaches: dict[str, Any], now: datetime) -> None:
        config = loaded.config
        campaign = config.campaigns[campaign_name]
        self.reaches = reaches
        self.caps: dict[str, AppliedCap] = {}
        self.counts: Any = None
        if campaign.kind == "marketing":  # transactional messages ignore channel caps
            caps = [c for c in caps_for(config, campaign_name, campaign, channels)
                    if c.channel is not None]
            if caps:
                self.caps = {c.channel: c for c in caps if c.channel is not None}
                self.counts = cap_counts(caps, campaign_name, now).alias("channel_room")

    def join(self, source: Any, customer_id: Any) -> Any:
        """``source`` with the per-customer channel-cap counts joined (if any cap)."""
        if self.counts is None:
            return source
        return source.outerjoin(self.counts, self.counts.c.customer_id == customer_id)

    def reachable(self, name: str) -> Any:
        return self.reaches[name].c.address_id.is_not(None)

    def has_room(self, name: str) -> Any:
        applied = self.caps.get(name)
        if applied is None:
            return self.reachable(name)
        used = func.coalesce(self.counts.c[applied.column], 0)
        return and_(self.reachable(name), used < applied.cap.max)

    def choose(self, order: list[str]) -> tuple[Any, Any]:
        """(channel, address_id) for a channel order; names not planned are ignored
        (a sequence step may use fewer channels than the campaign)."""
        names = [name for name in order if name in self.reaches]
        whens = [(self.has_room(name), name) for name in names]
        if self.caps:
            whens += [(self.reachable(name), name) for name in names]
        channel = case(*[(cond, literal(name)) for cond, name in whens], else_=None)
        address = case(*[(cond, self.reaches[name].c.address_id) for cond, name in whens],
                       else_=None)
        return channel, address

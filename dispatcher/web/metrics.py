"""``GET /metrics``: Prometheus text format.

Process counters (messages by channel/status, failures by class, latency) come
from dispatcher/send/metrics.py; the queue is read from the shared outbox at scrape
time, so the gauges agree across several dispatcher processes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, or_, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from dispatcher.clock import utcnow
from dispatcher.outbox.ledger import Ledger
from dispatcher.outbox.pauses import list_paused
from dispatcher.store.schema import outbox
from dispatcher.web.app import WebState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class OutboxCollector(Collector):
    def __init__(self, state: WebState) -> None:
        self.state = state

    def collect(self) -> Any:
        engine = self.state.engine
        now = utcnow()
        by_state = GaugeMetricFamily("dispatcher_outbox_rows", "Outbox rows by campaign and state",
                                     labels=["campaign", "status"])
        due = GaugeMetricFamily("dispatcher_queue_depth",
                                "Rows due but not yet handed to a provider (pending or "
                                "claimed), by channel", labels=["channel"])
        paused = GaugeMetricFamily("dispatcher_campaign_paused", "1 when the campaign is paused",
                                   labels=["campaign"])
        with engine.connect() as conn:
            for campaign, status, count in conn.execute(
                    select(outbox.c.campaign, outbox.c.status, func.count())
                    .group_by(outbox.c.campaign, outbox.c.status)):
                by_state.add_metric([campaign, status], count)
            for channel, count in conn.execute(
                    select(outbox.c.channel, func.count())
                    .where(or_(Ledger.due(None, None, now),
                               and_(outbox.c.status == "sending",
                                    outbox.c.send_started_at.is_(None))))
                    .group_by(outbox.c.channel)):
                due.add_metric([channel or ""], count)
        for item in list_paused(engine):
            paused.add_metric([item.campaign], 1)
        yield by_state
        yield due
        yield paused


def routes(state: WebState) -> list[BaseRoute]:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(OutboxCollector(state))

    async def metrics(request: Request) -> Response:
        body = await asyncio.to_thread(lambda: generate_latest(REGISTRY)
                                       + generate_latest(registry))
        return Response(body, media_type=CONTENT_TYPE)

    return [Route("/metrics", metrics)]

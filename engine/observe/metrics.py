"""Prometheus metrics of one engine process.

Counters move as batches commit (not before, so a rolled-back batch counts
nothing); queue depths are read from the database when scraped, so they are
true across processes. Exposed by the control API at ``/metrics`` (loopback,
with the secret) and summarised by ``mailbranch status``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Optional

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from engine.store.models import Event, Send, Wait
from engine.store.statements import sql


class EngineMetrics:
    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.sends = Counter("mailbranch_sends", "Emails sent or queued by the engine", registry=r)
        self.skips = Counter("mailbranch_skips", "Email nodes skipped: already sent to that lead", registry=r)
        self.delivered = Counter("mailbranch_delivered", "Emails accepted by the SMTP server", registry=r)
        self.events = Counter("mailbranch_events", "Opens and clicks handled", ["type"], registry=r)
        self.triggers = Counter("mailbranch_triggers", "Conditions triggered by an event", registry=r)
        self.timers = Counter("mailbranch_timers_fired", "Waits that fired", registry=r)
        self.failures = Counter("mailbranch_failures", "Sends that failed for good", registry=r)
        self.retries = Counter("mailbranch_retries", "Sends scheduled for another attempt", registry=r)
        self.rejected = Counter("mailbranch_tracking_rejected",
                                "Tracking requests with a forged, damaged or unknown token", registry=r)
        self.batch_conflicts = Counter("mailbranch_batch_conflicts", "Batches replayed after a lost "
                                       "compare-and-set", registry=r)
        self.timer_lag = Histogram("mailbranch_timer_lag_seconds", "How late waits fired after their due time",
                                   buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600), registry=r)

    def watch_queues(self, depths: Callable[[], dict[str, int]]) -> None:
        """Report queue depths (pending waits, events, queued sends) read at scrape time."""
        self.registry.register(_QueueCollector(depths))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _QueueCollector(Collector):
    def __init__(self, depths: Callable[[], dict[str, int]]) -> None:
        self.depths = depths

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("mailbranch_queue_depth", "Work waiting in the database", labels=["queue"])
        for name, value in self.depths().items():
            family.add_metric([name], value)
        yield family


#: The process's metrics; tests make their own ``EngineMetrics()``.
METRICS = EngineMetrics()


_PENDING_WAITS = sql(select(func.count()).select_from(Wait).where(Wait.state == "pending"))
_PENDING_EVENTS = sql(select(func.count()).select_from(Event).where(Event.state == "pending"))
_OUTBOX = sql(select(func.count()).select_from(Send).where(Send.status.in_(("queued", "sending"))))
_FAILED_SENDS = sql(select(func.count()).select_from(Send).where(Send.status == "failed"))


def queue_depths(db) -> dict[str, int]:
    from engine.store.bulk import fetch_all

    with db.session() as s:
        waits = fetch_all(s, _PENDING_WAITS)[0][0]
        events = fetch_all(s, _PENDING_EVENTS)[0][0]
        sends = fetch_all(s, _OUTBOX)[0][0]
        failed = fetch_all(s, _FAILED_SENDS)[0][0]
    return {"waits": waits, "events": events, "outbox": sends, "failed_sends": failed}

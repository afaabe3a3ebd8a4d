"""Scale-out: the relay records straight into the engine's PostgreSQL event queue.

With ``mailbranch relay serve --engine-db postgresql://...`` there is no
relay log and no sync: each open, click and unsubscribe goes through the
engine's own sink (campaign and send checked, machine rules applied,
unsubscribes put on the suppression list) and, in the same transaction,
defers the job that wakes the worker holding that lead's shard, exactly as
the scale-out runner's tracking server does.
"""

from __future__ import annotations

from sqlalchemy import select

from engine.runtime.sink import EngineSink
from engine.scale.jobs import DEFAULT_SHARDS, ShardJobs
from engine.store.database import Database
from engine.store.models import Campaign


class ShardWaker:
    """``EngineSink.on_events`` for a process that runs no engine: wake each event's shard."""

    def __init__(self) -> None:
        self._jobs: dict[int, ShardJobs] = {}

    def __call__(self, session, events: list[tuple[int, int, int]]) -> None:
        by_campaign: dict[int, list[tuple[int, int]]] = {}
        for campaign, lead, at in events:
            by_campaign.setdefault(campaign, []).append((lead, at))
        for campaign, items in by_campaign.items():
            jobs = self._jobs_for(session, campaign)
            if jobs is not None:
                jobs.wake_now(session, [lead for lead, _at in items], max(at for _lead, at in items))

    def _jobs_for(self, session, campaign_id: int):
        if campaign_id not in self._jobs:
            settings = session.execute(select(Campaign.settings).where(Campaign.id == campaign_id)).scalar() or {}
            if not settings.get("distributed"):
                return None  # an embedded campaign: its own runner polls for events
            self._jobs[campaign_id] = ShardJobs(campaign_id, int(settings.get("shards", DEFAULT_SHARDS)))
        return self._jobs[campaign_id]


def direct_sink(db_url: str) -> tuple[Database, EngineSink]:
    """The engine's database (migrated already by the engine) and a sink that wakes workers."""
    if not db_url.startswith("postgresql"):
        raise ValueError("--engine-db takes the scale-out PostgreSQL URL (postgresql://user@host/database)")
    if db_url.startswith("postgresql://"):
        db_url = db_url.replace("postgresql://", "postgresql+psycopg://", 1)
    db = Database(db_url)
    sink = EngineSink(db)
    sink.on_events = ShardWaker()
    return db, sink

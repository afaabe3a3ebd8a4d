"""``mailbranch worker``: one scale-out worker process on PostgreSQL.

Any number of workers on any number of machines share one database. Each
takes jobs from procrastinate's queue (``jobs.py``): wake a shard of leads
and play its due work with the very engine the embedded app uses, or send a
shard's queued emails. Every worker sweeps for jobs whose worker died (no
heartbeat for ``MAILBRANCH_STALLED_SECONDS``, 30 by default) and retries them; the outbox's leases do the same for sends that
a dead worker had claimed.

Delivery follows the same policy as the embedded engine (``runtime/policy.py``):
one ``OutboxStatus`` per worker process is shared by all its deliver jobs, so
an outage or a refused session pauses that worker's sending as a whole (each
job comes back when the pause ends) instead of every job probing on its own.
The worker's long-lived tasks run under the supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Optional

from procrastinate import App, PsycopgConnector, RetryStrategy
from sqlalchemy import func, select

from engine.delivery.pacing import DomainPacer, PacingSettings, seed_from_database
from engine.delivery.smtp import Sender, SmtpSettings
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine
from engine.runtime import status as runtime_status
from engine.runtime.home import installation_tokens
from engine.runtime.outbox import Outbox, OutboxStatus
from engine.runtime.policy import DeliveryPolicy
from engine.runtime.supervise import Supervisor
from engine.scale.jobs import QUEUE, TASK_DELIVER, TASK_WAKE, ShardJobs
from engine.store.bulk import fetch_all
from engine.store.database import Database
from engine.store.models import Send
from engine.store.statements import PARAM, sql

log = logging.getLogger("mailbranch.worker")

#: (campaign, shards, shard): a lead of this shard with a send still queued.
_QUEUED_LEAD = sql(select(Send.lead_id).where(Send.campaign_id == PARAM, Send.status == "queued",
                                              func.mod(Send.lead_id, PARAM) == PARAM).limit(1), "postgresql")


def libpq_url(url: str) -> str:
    """procrastinate speaks libpq URLs: drop SQLAlchemy's ``+psycopg``."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class WorkerState:
    """What one worker process keeps between jobs: engines, outboxes, the SMTP pool."""

    def __init__(self, db: Database, smtp: SmtpSettings, public_url: str, grace_ms: int = 1000,
                 policy: Optional[DeliveryPolicy] = None, pacing: Optional[PacingSettings] = None) -> None:
        self.db = db
        #: Pacing per recipient domain, shared by every deliver job of this process (each worker
        #: process keeps its own lanes: N workers send up to N times a lane's rate).
        self.pacer: Optional[DomainPacer] = DomainPacer(pacing) if pacing is not None else None
        self._pacer_seeded = False
        self.clock = SystemClock()
        self.smtp = smtp
        self.public_url = public_url
        self.grace_ms = grace_ms
        self.tokens = installation_tokens()
        self.sender: Optional[Sender] = None
        self._engines: dict[int, CampaignEngine] = {}
        self.policy = policy or DeliveryPolicy()
        #: One pause and one set of last errors for every deliver job of this process.
        self.outbox_status = OutboxStatus()
        #: This worker's ``runtime_status`` row (several workers share a database).
        self.status_name = f"{runtime_status.OUTBOX}:worker:{socket.gethostname()}:{os.getpid()}"

    def engine(self, campaign_id: int) -> CampaignEngine:
        engine = self._engines.get(campaign_id)
        if engine is None:
            engine = CampaignEngine(self.db, campaign_id, self.clock)
            self._engines[campaign_id] = engine
        return engine

    def jobs(self, campaign_id: int) -> ShardJobs:
        jobs = self.engine(campaign_id).ctx.jobs
        if jobs is None:
            raise RuntimeError(f"campaign {campaign_id} is not a scale-out campaign")
        return jobs

    def wake(self, campaign_id: int, shard: int) -> int:
        jobs = self.jobs(campaign_id)
        return self.engine(campaign_id).process_until(self.clock.now() - jobs.grace_ms, (shard, jobs.shards))

    async def deliver(self, campaign_id: int, shard: int) -> Optional[int]:
        """Send the shard's due emails; returns when the next retry is due (or None)."""
        if self.sender is None:
            self.sender = Sender(self.smtp)
        jobs = self.jobs(campaign_id)
        outbox = Outbox(self.db, self.sender, self.tokens, lambda: self.public_url, self.clock.now,
                        campaigns=lambda: [campaign_id], policy=self.policy, status=self.outbox_status,
                        name=self.status_name)
        outbox.shard = (shard, jobs.shards)
        if self.pacer is not None:
            if not self._pacer_seeded:
                self._pacer_seeded = True
                await asyncio.to_thread(seed_from_database, self.pacer, self.db)
            outbox.pacer = self.pacer
        outbox.on_events = lambda s, events: jobs.wake_now(s, [lead for _c, lead in events], self.clock.now())
        while await outbox.run_once():
            pass
        if outbox.status.state == "paused":
            return outbox.status.resume_at
        return await asyncio.to_thread(outbox.next_attempt_at)


def build_app(conninfo: str, state: WorkerState) -> App:
    app = App(connector=PsycopgConnector(conninfo=conninfo))

    @app.task(name=TASK_WAKE, queue=QUEUE, retry=RetryStrategy(max_attempts=20, exponential_wait=2))
    async def wake_shard(campaign_id: int, shard: int, due: int, kind: str = "waits") -> None:
        played = await asyncio.to_thread(state.wake, campaign_id, shard)
        log.debug("shard %s of campaign %s: %s items played", shard, campaign_id, played)

    @app.task(name=TASK_DELIVER, queue=QUEUE, retry=RetryStrategy(max_attempts=20, exponential_wait=2))
    async def deliver_shard(campaign_id: int, shard: int, at: Optional[int] = None) -> None:
        next_at = await state.deliver(campaign_id, shard)
        if next_at is not None:
            # Sends left for a later attempt (backoff) or a paused server: come back then.
            jobs = state.jobs(campaign_id)

            def defer() -> None:
                with state.db.session() as s:
                    lead = fetch_all(s, _QUEUED_LEAD, (campaign_id, jobs.shards, shard))
                    if lead:
                        jobs.deliver(s, [lead[0][0]], max(next_at, state.clock.now()))

            await asyncio.to_thread(defer)

    return app


async def ensure_schema(app: App, db: Database) -> None:
    with db.session() as s:
        present = fetch_all(s, "SELECT to_regclass('procrastinate_jobs')")[0][0]
    if present is None:
        try:
            await app.schema_manager.apply_schema_async()
        except Exception:  # noqa: BLE001 - another worker applied it at the same moment
            with db.session() as s:
                if fetch_all(s, "SELECT to_regclass('procrastinate_jobs')")[0][0] is None:
                    raise


async def sweep_stalled(app: App, stalled_seconds: float) -> int:
    """Jobs of workers that stopped sending heartbeats go back to the queue."""
    retried = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_seconds):
        try:
            await app.job_manager.retry_job(job)
        except Exception as exc:  # noqa: BLE001 - another worker's sweep got there first
            log.info("stalled job %s was already retried (%s)", job.id, exc)
            continue
        retried += 1
        log.warning("retried job %s (%s): its worker stopped", job.id, job.task_name)
    return retried


async def _sweep_forever(app: App, stalled_seconds: float) -> None:
    while True:
        await asyncio.sleep(max(1.0, stalled_seconds / 3))
        try:
            await sweep_stalled(app, stalled_seconds)
        except Exception as exc:  # noqa: BLE001 - the sweep must outlive a database hiccup
            log.warning("stalled-job sweep failed: %s", exc)


async def run_worker(db_url: str, smtp: SmtpSettings, public_url: str, concurrency: int = 4,
                     wait: bool = True, policy: Optional[DeliveryPolicy] = None,
                     pacing: Optional[PacingSettings] = None) -> None:
    db = Database(db_url)
    db.migrate()
    state = WorkerState(db, smtp, public_url, policy=policy, pacing=pacing)
    app = build_app(libpq_url(db_url), state)
    # How long without a heartbeat before a worker counts as dead and its jobs are retried.
    stalled = float(os.environ.get("MAILBRANCH_STALLED_SECONDS", "30"))
    async with app.open_async():
        await ensure_schema(app, db)
        started = time.time()
        log.info("worker started (concurrency %s)", concurrency)
        supervisor = Supervisor(on_change=runtime_status.task_recorder(
            db, prefix=f"worker:{socket.gethostname()}:{os.getpid()}:"))
        supervisor.start("stalled-job sweep", lambda: _sweep_forever(app, stalled))
        try:
            await supervisor.run("job loop", lambda: app.run_worker_async(
                queues=[QUEUE], concurrency=concurrency, wait=wait, install_signal_handlers=True,
                fetch_job_polling_interval=0.5, update_heartbeat_interval=max(0.5, stalled / 6),
                stalled_worker_timeout=stalled))
        finally:
            await supervisor.stop()
            if state.sender is not None:
                await state.sender.close()
            log.info("worker stopped after %.0fs", time.time() - started)

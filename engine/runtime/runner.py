"""A campaign on the wall clock: engine, outbox, tracking server, sandbox.

The database is the store of record. APScheduler only wakes the loop at the
next due time (a wait, a retry); the tracking sink and the outbox wake it
when they record something. Every pass plays what is due through the same
``CampaignEngine`` the simulator uses, then lets the outbox send.

Real time has one race the simulator does not: a tracking request may be
committed a moment after the instant it happened. The runner therefore plays
due work up to ``now - grace`` (two seconds by default), so an event that was
committed within the grace is always handled in its right place in time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Optional

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from engine.bounces.settings import BounceMailboxSettings
from engine.delivery.pacing import DomainPacer, PacingSettings, seed_from_database
from engine.delivery.sandbox import SandboxServer
from engine.delivery.smtp import Sender, SmtpSettings
from engine.delivery.tracking_server import TrackingServer
from engine.delivery.tracking_tokens import TrackingTokens
from engine.observe.metrics import METRICS
from engine.run.clock import Clock, SystemClock
from engine.run.engine import CampaignEngine
from engine.runtime import status as runtime_status
from engine.runtime.home import installation_tokens
from engine.runtime.journal import record_accepted
from engine.runtime.outbox import Outbox
from engine.runtime.policy import DeliveryPolicy
from engine.runtime.sink import EngineSink
from engine.store.bulk import fetch_all
from engine.store.database import Database
from engine.store.models import Campaign, Event, Send, Wait
from engine.store.statements import expand, in_params, sql

log = logging.getLogger("mailbranch.runner")

#: What keeps these campaigns (``expand`` for their number) from being finished.
_OPEN_CAMPAIGNS = sql(select(func.count()).select_from(Campaign)
                      .where(in_params(Campaign.id), Campaign.complete_at.is_(None)))
_PENDING_WAITS = sql(select(func.count()).select_from(Wait)
                     .where(in_params(Wait.campaign_id), Wait.state == "pending"))
_PENDING_EVENTS = sql(select(func.count()).select_from(Event)
                      .where(in_params(Event.campaign_id), Event.state == "pending"))
_UNSENT = sql(select(func.count()).select_from(Send)
              .where(in_params(Send.campaign_id), Send.status.in_(("queued", "sending"))))


#: The database refused a transaction (locked past the busy timeout, disk full):
#: the transaction rolled back whole, so the pass is simply tried again later.
DATABASE_TROUBLE = (OperationalError, sqlite3.OperationalError)


def _env_ms(name: str, default: int) -> int:
    """A duration in ms from the environment (the crash tests shorten the lease and the grace)."""
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass
class RunnerSettings:
    smtp: SmtpSettings
    tracking_host: str = "127.0.0.1"
    tracking_port: int = 0
    public_url: Optional[str] = None
    grace_ms: int = field(default_factory=lambda: _env_ms("MAILBRANCH_GRACE_MS", 2000))
    poll_seconds: float = 1.0
    #: Start a sandbox even with a real outgoing server (the app's simulations send there).
    sandbox_for_simulations: bool = False
    #: Scale-out: workers (``mailbranch worker``) play and send; this process
    #: only serves tracking and waits for the campaign to finish.
    distributed: bool = False
    #: Retries, outage probes and session pauses of the outbox (``policy.py``).
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    #: Rate, concurrency and warm-up per recipient domain, for a real outgoing server
    #: (``engine/delivery/pacing.py``); None: no pacing. The sandbox is never paced.
    pacing: Optional[PacingSettings] = field(default_factory=PacingSettings)
    #: The mailbox bounces and complaints come back to (``engine/bounces``); None: not read.
    bounce_mailbox: Optional[BounceMailboxSettings] = None


class CampaignRunner:
    def __init__(self, db: Database, engines: list[CampaignEngine], settings: RunnerSettings,
                 clock: Optional[Clock] = None, tokens: Optional[TrackingTokens] = None) -> None:
        self.db = db
        self.engines = engines
        self.settings = settings
        self.clock = clock or SystemClock()
        self.tokens = tokens or installation_tokens()
        self.sandbox: Optional[SandboxServer] = None
        self.sender: Optional[Sender] = None
        self.tracking: Optional[TrackingServer] = None
        self.outbox: Optional[Outbox] = None
        #: When the outgoing server is a real one, simulations still go to a sandbox of their own.
        self.sandbox_outbox: Optional[Outbox] = None
        self.sink = EngineSink(db, on_recorded=self.wake, clock_ms=self.clock.now,
                               campaign_time=self.campaign_time)
        self.scheduler: Optional[AsyncIOScheduler] = None
        self._wake: Optional[asyncio.Event] = None
        self._stopping = False
        self._rejected_seen = 0
        #: Why the last pass could not write to the database (None: it could).
        self.database_trouble: Optional[str] = None
        #: With a public relay attached: the latest instant the wall-clock campaigns may be
        #: played up to, so no wait fires before an earlier open still at the relay
        #: (``engine/relay/attach.py``). None: no relay, play up to now minus the grace.
        self.hold: Optional[Callable[[int], int]] = None

    # -- life cycle --------------------------------------------------------
    async def start(self) -> None:
        self._wake = asyncio.Event()
        smtp = self.settings.smtp
        if smtp.sandbox or self.settings.sandbox_for_simulations:
            self.sandbox = SandboxServer(self.db, port=smtp.port if smtp.sandbox else 0)
            await self.sandbox.start()
        if smtp.sandbox:
            smtp = smtp.with_port(self.sandbox.port)
        self.sender = Sender(smtp)
        # Mail gateways' link scanners click within seconds of delivery; the sandbox has none.
        self.sink.delivery_rule = not smtp.sandbox
        self.tracking = TrackingServer(self.tokens, self.sink, host=self.settings.tracking_host,
                                       port=self.settings.tracking_port, public_url=self.settings.public_url,
                                       clock=self.clock.now)
        await self.tracking.start()
        public = lambda: self.tracking.public_url  # noqa: E731
        lease_ms = _env_ms("MAILBRANCH_OUTBOX_LEASE_MS", 120_000)
        if self.settings.smtp.sandbox or self.sandbox is None:
            self.outbox = Outbox(self.db, self.sender, self.tokens, public, self.clock.now, lease_ms=lease_ms,
                                 campaign_time=self.campaign_time, policy=self.settings.policy)
        else:
            self.outbox = Outbox(self.db, self.sender, self.tokens, public, self.clock.now, lease_ms=lease_ms,
                                 campaigns=lambda: self._campaigns(simulated=False),
                                 campaign_time=self.campaign_time, policy=self.settings.policy)
            self.sandbox_sender = Sender(SmtpSettings.from_url("sandbox").with_port(self.sandbox.port))
            self.sandbox_outbox = Outbox(self.db, self.sandbox_sender, self.tokens, public, self.clock.now,
                                         lease_ms=lease_ms, campaigns=lambda: self._campaigns(simulated=True),
                                         campaign_time=self.campaign_time, name=runtime_status.SANDBOX_OUTBOX)
        if not self.settings.smtp.sandbox and self.settings.pacing is not None:
            self.outbox.pacer = DomainPacer(self.settings.pacing)
            await asyncio.to_thread(seed_from_database, self.outbox.pacer, self.db)
        if self.sandbox is not None:  # its 250 and the send's record: one transaction
            self.sandbox.on_accepted = self._sandbox_accepted
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.start()
        if self.settings.distributed:
            self.sink.on_events = self._wake_workers

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self.tracking is not None:
            await self.tracking.stop()
        if self.sender is not None:
            await self.sender.close()
        if getattr(self, "sandbox_sender", None) is not None:
            await self.sandbox_sender.close()
        if self.sandbox is not None:
            await self.sandbox.stop()

    def _sandbox_accepted(self, session, accepted: list[tuple[str, int]]) -> None:
        for outbox in (self.outbox, self.sandbox_outbox):
            if outbox is not None:
                record_accepted(outbox, session, accepted)

    def request_stop(self) -> None:
        """Let ``run`` return at its next turn (``stop`` also closes the servers)."""
        self._stopping = True
        self.wake()

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _campaigns(self, simulated: bool) -> list[int]:
        return [e.campaign_id for e in self.engines if e.clock.simulated == simulated]

    def campaign_time(self, campaign_id: int) -> Optional[int]:
        """The time of a campaign that runs on a simulated clock (None: wall clock)."""
        for engine in self.engines:
            if engine.campaign_id == campaign_id and engine.clock.simulated:
                return engine.clock.now()
        return None

    # -- the loop ------------------------------------------------------------
    async def step(self) -> int:
        """One pass (see ``_step``); a pass the database refused is tried again on the next one."""
        try:
            worked = await self._step()
        except DATABASE_TROUBLE as exc:
            if self.database_trouble is None:
                log.warning("the database refused a pass (%s); nothing was half-written, retrying", exc)
            self.database_trouble = str(exc)
            return 0
        if self.database_trouble is not None:
            log.info("the database accepts writes again")
            self.database_trouble = None
        return worked

    async def _step(self) -> int:
        """One pass: play due work of every campaign, then send what is due.

        A campaign on a simulated clock plays up to its clock's time (someone
        else moves that clock); one on the wall clock up to now minus the grace.
        """
        if self.settings.distributed:
            self._count_rejections()
            return 0
        played = 0
        wall = self.clock.now() - self.settings.grace_ms
        if self.hold is not None:
            wall = self.hold(wall)
        for engine in list(self.engines):
            limit = engine.clock.now() if engine.clock.simulated else wall
            played += await asyncio.to_thread(engine.process_until, limit)
        self._count_rejections()
        sent = await self.outbox.run_once() if self.outbox else 0
        if self.sandbox_outbox is not None:
            sent += await self.sandbox_outbox.run_once()
        return played + sent

    def _wake_workers(self, session, events: list[tuple[int, int, int]]) -> None:
        """Scale-out: new events wake the workers of their leads' shards."""
        for engine in self.engines:
            mine = [(lead, at) for campaign, lead, at in events if campaign == engine.campaign_id]
            if mine and engine.ctx.jobs is not None:
                engine.ctx.jobs.wake_now(session, [lead for lead, _at in mine], max(at for _l, at in mine))

    def _count_rejections(self) -> None:
        if self.tracking is None:
            return
        seen = self.tracking.counters.rejected
        if seen > self._rejected_seen:
            METRICS.rejected.inc(seen - self._rejected_seen)
            from engine.store.models import add_to_counter

            with self.db.session() as session:  # so `mailbranch status` shows it too
                add_to_counter(session, "tracking_rejected", seen - self._rejected_seen)
            self._rejected_seen = seen

    def finished(self) -> bool:
        """Complete, nothing left to send, no token left waiting, no event left to handle."""
        ids = [e.campaign_id for e in self.engines]
        n = len(ids)
        with self.db.session() as s:
            open_campaigns = fetch_all(s, expand(_OPEN_CAMPAIGNS, n), ids)[0][0]
            waits = fetch_all(s, expand(_PENDING_WAITS, n), ids)[0][0]
            events = fetch_all(s, expand(_PENDING_EVENTS, n), ids)[0][0]
            sends = fetch_all(s, expand(_UNSENT, n), ids)[0][0]
        return not (open_campaigns or waits or events or sends)

    def next_wake(self) -> Optional[int]:
        times = [e.next_due() for e in self.engines if not e.clock.simulated]
        times.append(self.outbox.next_attempt_at() if self.outbox else None)
        due = [t for t in times if t is not None]
        if not due:
            return None
        return min(due) + self.settings.grace_ms

    async def run(self, until_finished: bool = True,
                  on_pass: Optional[Callable[[CampaignRunner], None]] = None) -> None:
        """Play and send until every campaign is finished (or until ``stop()``)."""
        assert self._wake is not None, "start() first"
        while not self._stopping:
            worked = await self.step()
            if on_pass is not None:
                on_pass(self)
            if until_finished and await asyncio.to_thread(self.finished):
                return
            if worked:
                continue
            self._schedule(await asyncio.to_thread(self.next_wake))
            self._wake.clear()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that arrives as the wake-up does, and the loop then ran
                # on forever under a supervisor waiting for it to stop.
                async with asyncio.timeout(self.settings.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass  # poll: events may come from other processes (mailbranch event)

    def _schedule(self, at_ms: Optional[int]) -> None:
        if self.scheduler is None or at_ms is None:
            return
        when = datetime.fromtimestamp(max(at_ms, self.clock.now()) / 1000, tz=UTC)
        self.scheduler.add_job(self.wake, "date", run_date=when, id="wake", replace_existing=True,
                               misfire_grace_time=None)

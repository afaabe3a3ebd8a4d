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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Optional

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from engine.delivery.sandbox import SandboxServer
from engine.delivery.smtp import Sender, SmtpSettings
from engine.delivery.tracking_server import TrackingServer
from engine.delivery.tracking_tokens import TrackingTokens
from engine.run.clock import Clock, SystemClock
from engine.run.engine import CampaignEngine
from engine.runtime.home import installation_tokens
from engine.runtime.outbox import Outbox
from engine.runtime.sink import EngineSink
from engine.store.bulk import fetch_all
from engine.store.database import Database

log = logging.getLogger("mailbranch.runner")


@dataclass
class RunnerSettings:
    smtp: SmtpSettings
    tracking_host: str = "127.0.0.1"
    tracking_port: int = 0
    public_url: Optional[str] = None
    grace_ms: int = 2000
    poll_seconds: float = 1.0


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
        self.sink = EngineSink(db, on_recorded=self.wake, clock_ms=self.clock.now)
        self.scheduler: Optional[AsyncIOScheduler] = None
        self._wake: Optional[asyncio.Event] = None
        self._stopping = False

    # -- life cycle --------------------------------------------------------
    async def start(self) -> None:
        self._wake = asyncio.Event()
        smtp = self.settings.smtp
        if smtp.sandbox:
            self.sandbox = SandboxServer(self.db, port=smtp.port or 0)
            await self.sandbox.start()
            smtp = smtp.with_port(self.sandbox.port)
        self.sender = Sender(smtp)
        self.tracking = TrackingServer(self.tokens, self.sink, host=self.settings.tracking_host,
                                       port=self.settings.tracking_port, public_url=self.settings.public_url,
                                       clock=self.clock.now)
        await self.tracking.start()
        self.outbox = Outbox(self.db, self.sender, self.tokens, lambda: self.tracking.public_url, self.clock.now)
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.start()

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
        if self.sandbox is not None:
            await self.sandbox.stop()

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- the loop ------------------------------------------------------------
    async def step(self) -> int:
        """One pass: play due work of every campaign, then send what is due."""
        played = 0
        limit = self.clock.now() - self.settings.grace_ms
        for engine in self.engines:
            played += await asyncio.to_thread(engine.process_until, limit)
        sent = await self.outbox.run_once() if self.outbox else 0
        return played + sent

    def finished(self) -> bool:
        """Complete, nothing left to send, no token left waiting, no event left to handle."""
        ids = [e.campaign_id for e in self.engines]
        marks = ", ".join("?" for _ in ids)
        with self.db.session() as s:
            open_campaigns = fetch_all(s, f"SELECT COUNT(*) FROM campaigns WHERE id IN ({marks}) AND"
                                          " complete_at IS NULL", ids)[0][0]
            waits = fetch_all(s, f"SELECT COUNT(*) FROM waits WHERE campaign_id IN ({marks}) AND"
                                 " state = 'pending'", ids)[0][0]
            events = fetch_all(s, f"SELECT COUNT(*) FROM events WHERE campaign_id IN ({marks}) AND"
                                  " state = 'pending'", ids)[0][0]
            sends = fetch_all(s, f"SELECT COUNT(*) FROM sends WHERE campaign_id IN ({marks}) AND status IN"
                                 " ('queued', 'sending')", ids)[0][0]
        return not (open_campaigns or waits or events or sends)

    def next_wake(self) -> Optional[int]:
        times = [e.next_due() for e in self.engines]
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
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_seconds)
            except TimeoutError:
                pass  # poll: events may come from other processes (mailbranch event)

    def _schedule(self, at_ms: Optional[int]) -> None:
        if self.scheduler is None or at_ms is None:
            return
        when = datetime.fromtimestamp(max(at_ms, self.clock.now()) / 1000, tz=UTC)
        self.scheduler.add_job(self.wake, "date", run_date=when, id="wake", replace_existing=True,
                               misfire_grace_time=None)

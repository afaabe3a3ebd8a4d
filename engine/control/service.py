"""The engine process: every campaign of one database, real or simulated.

The app starts one engine process and drives it through the control API
(``server.py``). Real campaigns run on the wall clock; simulations run on a
simulated clock that this service moves at the chosen speed (campaign
seconds per real second), can pause, and can jump to the next timer, and
their emails always go to the sandbox. A simulation's clock is saved in the
campaign row, so a restarted engine process picks every campaign up where
the database says it was.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import func, select, update

from engine.control import campaigns, exports, views
from engine.control.contract import CampaignSummary, CampaignView, ConversionReport, RecordedEvent
from engine.control.requests import EventCommand, StartCampaign
from engine.delivery.mailbox import get_message, list_messages
from engine.flow.fileformat import loads_flow
from engine.flow.validate import has_errors, validate
from engine.run.clock import SimulatedClock, SystemClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.runtime import pausing
from engine.runtime import status as runtime_status
from engine.runtime.runner import CampaignRunner, RunnerSettings
from engine.runtime.supervise import Supervisor
from engine.store import suppression
from engine.store.database import Database
from engine.store.models import Campaign, Lead, Send, Token

log = logging.getLogger("mailbranch.service")


class ServiceError(ValueError):
    """A request the service refuses; the message is for the user."""


@dataclass
class Handle:
    engine: CampaignEngine
    simulated: bool
    speed: float = 3600.0
    paused: bool = False

    @property
    def clock(self):
        return self.engine.clock


class EngineService:
    def __init__(self, db: Database, settings: RunnerSettings, tokens=None) -> None:
        self.db = db
        self.wall = SystemClock()
        settings.sandbox_for_simulations = True
        self.runner = CampaignRunner(db, [], settings, self.wall, tokens)
        self.handles: dict[int, Handle] = {}
        #: The send loop and the simulation clock run supervised: a crash is logged,
        #: restarted with backoff, and shown by /health and `mailbranch status`.
        self.supervisor = Supervisor(on_change=runtime_status.task_recorder(db))
        self.started_at = time.time()

    # -- life cycle --------------------------------------------------------
    async def start(self) -> None:
        from engine.observe.metrics import METRICS, queue_depths

        self.db.migrate()
        if not getattr(METRICS, "_queues_watched", False):
            METRICS.watch_queues(lambda: queue_depths(self.db))
            METRICS._queues_watched = True
        await self.runner.start()
        with self.db.session() as s:
            rows = s.execute(select(Campaign.id, Campaign.settings).where(Campaign.state != "stopped",
                                                                           Campaign.delivery == "real")).all()
        for campaign_id, settings in rows:
            settings = settings or {}
            if settings.get("simulated"):
                clock = SimulatedClock(int(settings.get("sim_now") or 0))
                handle = Handle(CampaignEngine(self.db, campaign_id, clock), True,
                                float(settings.get("speed", 3600)), bool(settings.get("paused", False)))
            else:
                handle = Handle(CampaignEngine(self.db, campaign_id, self.wall), False)
            self._attach(handle)
        self.supervisor.start("send loop", lambda: self.runner.run(until_finished=False))
        self.supervisor.start("simulation clock", self._tick)
        from engine.bounces.mailbox import supervise_bounce_mailbox

        supervise_bounce_mailbox(self.supervisor, self.runner, self.runner.settings.bounce_mailbox)

    async def stop(self) -> None:
        self._save_clocks()
        self.runner.request_stop()  # the send loop ends at its next turn even if a cancellation is lost
        await self.supervisor.stop()
        await self.runner.stop()

    def _attach(self, handle: Handle) -> None:
        self.handles[handle.engine.campaign_id] = handle
        self.runner.engines.append(handle.engine)
        self.runner.wake()

    async def _tick(self, period: float = 0.1) -> None:
        """Move every running simulation's clock; save the clocks now and then."""
        last, saved = time.monotonic(), time.monotonic()
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            elapsed, last = now - last, now
            moved = False
            for handle in self.handles.values():
                if handle.simulated and not handle.paused and not self._done(handle):
                    handle.clock.advance(int(elapsed * handle.speed * 1000))
                    moved = True
            if moved:
                self.runner.wake()
            if now - saved > 1.0:
                saved = now
                await asyncio.to_thread(self._save_clocks)

    def _done(self, handle: Handle) -> bool:
        """A simulation stops its clock once nothing is left to happen in it."""
        return handle.engine.next_due() is None and handle.engine.complete_at is not None

    def _save_clocks(self) -> None:
        for handle in self.handles.values():
            if handle.simulated:
                self._save_settings(handle)

    def _save_settings(self, handle: Handle) -> None:
        with self.db.session() as s:
            campaign = s.get(Campaign, handle.engine.campaign_id)
            settings = dict(campaign.settings or {})
            settings.update(simulated=True, sim_now=handle.clock.now(), speed=handle.speed, paused=handle.paused)
            s.execute(update(Campaign).where(Campaign.id == campaign.id).values(settings=settings))

    # -- campaigns -----------------------------------------------------------
    def handle(self, campaign_id: int) -> Handle:
        handle = self.handles.get(campaign_id)
        if handle is None:
            raise ServiceError(f"there is no running campaign {campaign_id}")
        return handle

    def start_campaign(self, flow_data: dict, leads: list[dict], *, simulated: bool, speed: float = 3600.0,
                       name: Optional[str] = None) -> int:
        """``launch`` for callers holding plain JSON (checked as the control API checks it)."""
        return self.launch(StartCampaign.from_json({"flow": flow_data, "leads": leads, "simulated": simulated,
                                                    "speed": speed, "name": name}))

    def launch(self, command: StartCampaign) -> int:
        """Validate, create and enrol; the loop picks it up at once."""
        flow = loads_flow(json.dumps(command.flow))
        findings = validate(flow)
        if has_errors(findings):
            raise ServiceError("the flow has errors: " + "; ".join(f.message for f in findings if f.is_error))
        clock = SimulatedClock(self.wall.now()) if command.simulated else self.wall
        settings: dict[str, Any] = {"simulated": command.simulated}
        if command.simulated:
            settings.update(speed=command.speed, sim_now=clock.now(), paused=False)
        engine = CampaignEngine.create(self.db, flow, clock, name=command.name, delivery="real", settings=settings)
        engine.enroll(LeadInput(x.key, x.email, x.fields) for x in command.leads)
        self._attach(Handle(engine, command.simulated, command.speed))
        return engine.campaign_id

    def set_paused(self, campaign_id: int, paused: bool) -> None:
        """A simulation's clock stops; a real campaign's outbox takes none of its sends (``pausing.py``)."""
        handle = self.handle(campaign_id)
        handle.paused = paused
        if handle.simulated:
            self._save_settings(handle)
        else:
            with self.db.session() as s:
                try:
                    pausing.set_paused(s, campaign_id, paused, self.wall.now())
                except pausing.CampaignStateError as exc:
                    raise ServiceError(str(exc)) from None
        self.runner.wake()  # resuming: what fell due goes out now

    def set_speed(self, campaign_id: int, speed: float) -> None:
        handle = self.handle(campaign_id)
        if not handle.simulated or speed <= 0:
            raise ServiceError("the speed of a simulation must be a positive number")
        handle.speed = speed
        self._save_settings(handle)

    def skip_to_next_timer(self, campaign_id: int) -> Optional[int]:
        """Jump a simulation's clock to its next due wait; returns the new time."""
        handle = self.handle(campaign_id)
        if not handle.simulated:
            raise ServiceError("only a simulation's clock can be moved")
        due = handle.engine.next_due()
        if due is not None:
            handle.clock.reach(due)
            self._save_settings(handle)
            self.runner.wake()
        return due

    def stop_campaign(self, campaign_id: int) -> None:
        handle = self.handles.pop(campaign_id, None)
        if handle is None:
            raise ServiceError(f"there is no running campaign {campaign_id}")
        self.runner.engines.remove(handle.engine)
        with self.db.session() as s:
            pausing.stop(s, campaign_id, handle.clock.now())

    async def fire_event(self, campaign_id: int, lead: str, email: str, kind: str,
                         url: Optional[str] = None, machine: bool = False) -> bool:
        """A simulated open or click (``record_event`` with its fields)."""
        await self.record_event(campaign_id, EventCommand(kind, lead, email, url if kind == "click" else None,
                                                          machine))
        return True

    async def record_event(self, campaign_id: int, command: EventCommand) -> RecordedEvent:
        """An open, click or conversion for a running campaign, at its own time, through the
        same lookup and injection as ``mailbranch event`` (``campaigns.py``)."""
        self.handle(campaign_id)
        at = self.runner.campaign_time(campaign_id) or self.wall.now()
        try:
            event = await asyncio.to_thread(campaigns.inject, self.db, campaign_id, command, at, self.wall.now())
        except campaigns.NotFound as exc:
            raise ServiceError(str(exc)) from None
        self.runner.wake()
        return event

    async def convert_csv(self, campaign_id: int, text: str) -> ConversionReport:
        """Conversions for every lead a CSV names (SEMANTICS 10); bad rows are reported with their line."""
        self.handle(campaign_id)
        rows, empty = campaigns.read_keys_csv(text)
        at = self.runner.campaign_time(campaign_id) or self.wall.now()
        report = await asyncio.to_thread(campaigns.convert_rows, self.db, campaign_id, rows, at, self.wall.now(),
                                         empty)
        self.runner.wake()
        return report

    # -- reading -------------------------------------------------------------
    def campaigns(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(select(Campaign).order_by(Campaign.id)).scalars().all()
            return [self._summary(c).as_json() for c in rows]

    def _summary(self, c: Campaign) -> CampaignSummary:
        handle = self.handles.get(c.id)
        settings = c.settings or {}
        simulated = bool(settings.get("simulated"))
        now = handle.clock.now() if handle else (settings.get("sim_now") if simulated else self.wall.now())
        return CampaignSummary(c.id, c.name, c.state, simulated, c.started_at, c.complete_at, now,
                               handle.speed if handle else settings.get("speed"), views.hold_of(c),
                               handle is not None, json.loads(c.flow_json), c.uid)

    def figures(self, campaign_id: int) -> dict[str, Any]:
        return self.campaign_view(campaign_id).as_json()

    def campaign_view(self, campaign_id: int) -> CampaignView:
        with self.db.session() as s:
            c = s.get(Campaign, campaign_id)
            if c is None:
                raise ServiceError(f"there is no campaign {campaign_id}")
            summary = self._summary(c)
            outbox = self.runner.sandbox_outbox if summary.simulated and self.runner.sandbox_outbox else \
                self.runner.outbox
            return CampaignView(views.campaign_status(s, campaign_id), summary,
                                outbox.status.describe() if outbox else "idle",
                                outbox.status.as_json() if outbox else None,
                                runtime_status.retries_waiting(s, campaign_id), self._finished_leads(s, campaign_id))

    def _finished_leads(self, s, campaign_id: int) -> int:
        """Leads with no tracked token still going: the progress bar's figure."""
        busy = select(func.count(func.distinct(Token.lead_id))).where(
            Token.campaign_id == campaign_id, Token.tracked.is_(True), Token.state == "waiting")
        total = s.execute(select(func.count()).select_from(Lead).where(Lead.campaign_id == campaign_id)).scalar()
        return (total or 0) - (s.execute(busy).scalar() or 0)

    def leads(self, campaign_id: int, offset: int = 0, limit: int = 200, query: str = "") -> dict[str, Any]:
        with self.db.session() as s:
            return views.lead_page(s, campaign_id, offset, limit, query).as_json()

    def timeline(self, campaign_id: int, lead: str) -> dict[str, Any]:
        """One lead's timeline; the lead named by key or address, as ``mailbranch event`` names it."""
        with self.db.session() as s:
            try:
                return views.timeline(s, campaign_id, lead, self.handles_start(campaign_id)).as_json()
            except campaigns.NotFound as exc:
                raise ServiceError(str(exc)) from None

    def handles_start(self, campaign_id: int) -> Optional[str]:
        handle = self.handles.get(campaign_id)
        return handle.engine.spec.start if handle else None

    def series(self, campaign_id: int, buckets: int = 48) -> dict[str, Any]:
        """Sends, opens and clicks over campaign time, in equal buckets."""
        with self.db.session() as s:
            self._campaign(s, campaign_id)
            return exports.series(s, campaign_id, buckets)

    def export_csv(self, campaign_id: int, per: str = "lead") -> str:
        """The run's results as CSV: one row per lead and email, or per node."""
        with self.db.session() as s:
            self._campaign(s, campaign_id)
            return exports.export_csv(s, campaign_id, per)

    def _campaign(self, s, campaign_id: int) -> Campaign:
        try:
            return campaigns.find_campaign(s, campaign_id)
        except campaigns.NotFound as exc:
            raise ServiceError(str(exc)) from None

    def mailbox(self, limit: int = 100, offset: int = 0, to: Optional[str] = None) -> list[dict[str, Any]]:
        with self.db.session() as s:
            messages = list_messages(s, to=to, limit=limit, offset=offset)
            # Which campaign sent each message (its send carries the same Message-ID), and whether
            # it was a simulation, so the mailbox can tell them apart; None for mail from elsewhere.
            ids = [m.message_id for m in messages if m.message_id]
            senders = {mid: (cid, name, delivery) for mid, cid, name, delivery in s.execute(
                select(Send.message_id, Campaign.id, Campaign.name, Campaign.delivery)
                .join(Campaign, Campaign.id == Send.campaign_id).where(Send.message_id.in_(ids)))} if ids else {}
            return [{"id": m.id, "received_at": m.received_at, "to": m.rcpt_tos, "from": m.mail_from,
                     "subject": m.subject, "message_id": m.message_id,
                     "campaign": senders.get(m.message_id, (None,))[0],
                     "campaign_name": senders.get(m.message_id, (None, None))[1],
                     "simulated": (senders[m.message_id][2] == "simulated") if m.message_id in senders else None}
                    for m in messages]

    def message(self, message_id: int) -> dict[str, Any]:
        with self.db.session() as s:
            m = get_message(s, message_id)
            if m is None:
                raise ServiceError(f"there is no message {message_id}")
            parsed = m.email()
            return {"id": m.id, "subject": m.subject, "to": m.rcpt_tos, "from": m.mail_from,
                    "message_id": m.message_id, "received_at": m.received_at,
                    "headers": {k: str(v) for k, v in parsed.items()},
                    "html": m.body("html"), "text": m.body("plain")}

    # -- the installation's suppression list (SEMANTICS 12) ----------------------
    def suppressions(self, search: str = "", offset: int = 0, limit: int = 500) -> dict[str, Any]:
        with self.db.session() as s:
            found = suppression.entries(s, search=search, offset=offset, limit=limit)
            return {"entries": [e.as_json() for e in found], "total": suppression.count(s)}

    def suppress(self, emails: list[str], note: Optional[str] = None) -> dict[str, Any]:
        """Suppress addresses by hand (reason ``manual``); all or none."""
        if not isinstance(emails, list) or not emails:
            raise ServiceError("name at least one address to suppress")
        with self.db.session() as s:
            try:
                added = [e for e in emails if suppression.add(s, e, "manual", note=note or None)]
            except suppression.SuppressionError as exc:
                raise ServiceError(str(exc)) from None
        return {"added": len(added), "already": len(emails) - len(added)}

    def unsuppress(self, emails: list[str]) -> dict[str, Any]:
        """Take the named addresses off the list (never a pattern: each one in full)."""
        if not isinstance(emails, list) or not emails or not all(isinstance(e, str) for e in emails):
            raise ServiceError("name each address to remove from the suppression list")
        with self.db.session() as s:
            return {"removed": suppression.remove(s, emails)}

    def export_suppressions(self) -> str:
        with self.db.session() as s:
            return suppression.export_csv(s)

    def import_suppressions(self, text: str) -> dict[str, Any]:
        try:
            with self.db.session() as s:
                result = suppression.import_csv(s, text)
        except suppression.SuppressionError as exc:
            raise ServiceError(str(exc)) from None
        return {"added": result.added, "already": result.already, "summary": result.summary(),
                "rejected": [{"line": r.line, "reason": r.reason} for r in result.rejected]}

    def health(self) -> dict[str, Any]:
        """``ok`` only while every supervised task runs: never while the send loop is down."""
        outboxes = {name: o.status.as_json() for name, o in ((runtime_status.OUTBOX, self.runner.outbox),
                                                               (runtime_status.SANDBOX_OUTBOX,
                                                                self.runner.sandbox_outbox)) if o is not None}
        return {"ok": self.supervisor.ok, "tasks": self.supervisor.report(), "outboxes": outboxes,
                "campaigns": sorted(self.handles), "uptime": time.time() - self.started_at,
                "tracking": self.runner.tracking.public_url if self.runner.tracking else None,
                # Where real campaigns send (None: the built-in sandbox), for the app's Run confirmation.
                "outgoing": None if self.runner.settings.smtp.sandbox else
                f"{self.runner.settings.smtp.host}:{self.runner.settings.smtp.port}",
                "rejected": self.runner.tracking.rejected if self.runner.tracking else 0,
                "sandbox_port": self.runner.sandbox.port if self.runner.sandbox else None}


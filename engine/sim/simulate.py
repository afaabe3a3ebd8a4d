"""Run a flow on a simulated clock through the very engine that runs for real.

Events are recorded up front with their times, and the engine plays waits
and events in time order, jumping the clock, so days of campaign time take
milliseconds. The result is read back from the database, so what it shows is
what was stored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional, Union

from sqlalchemy import select

from engine.flow.model import Flow
from engine.run.clock import SimulatedClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.store.database import Database
from engine.store.models import Event, Lead, Send, Skip, Token

#: A fixed calendar start (2026-01-01T00:00:00Z) for tests and examples that need one.
SIM_START = 1_767_225_600_000
UNSETTLED = ("planned", "queued", "sending", "cancelled")


@dataclass
class SimulationResult:
    complete_at: Optional[float]
    sends: list[dict[str, Any]]
    skips: list[dict[str, Any]]
    tokens: list[dict[str, Any]]
    events: list[dict[str, Any]]
    campaign_id: int = 0
    rows_written: int = 0
    #: Per-node figures (``engine.run.report.CampaignFigures``).
    figures: Any = None
    #: Leads that reached the goal (SEMANTICS 10), with when.
    converted: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"complete_at": self.complete_at, "sends": self.sends, "skips": self.skips,
                "tokens": self.tokens, "events": self.events, "converted": self.converted}

    def sends_of(self, lead: str) -> list[tuple[str, float]]:
        return [(x["node"], x["at"]) for x in self.sends if x["lead"] == lead]


def seconds(ms: Optional[int], origin: int) -> Optional[float]:
    if ms is None:
        return None
    value = (ms - origin) / 1000
    return int(value) if value == int(value) else value


def simulate(flow: Flow, leads: Iterable[LeadInput], events: Iterable[dict[str, Any]] = (), *,
             mode: Optional[str] = None, until: Optional[float] = None, db: Optional[Database] = None,
             batch_size: int = 10000, on_progress: Optional[Callable[[int], None]] = None,
             collect: bool = True, send_rate: Optional[float] = None,
             start: Union[int, str, datetime, None] = None) -> SimulationResult:
    """Simulate ``flow`` for ``leads``; event ``at`` and ``until`` are seconds from the start.

    ``send_rate`` (sends per second) models a provider's limit: sends leave the
    queue in the order they were queued at that rate, and each token waits on
    its email node until its send leaves (SEMANTICS 9). Without it, delivery is
    instant.

    ``start`` (epoch ms, an aware ``datetime`` or ISO 8601 text with an offset) is
    where campaign time 0 falls on the calendar (default: now), which is what send windows open by (SEMANTICS 10); times in the result
    stay seconds from the start.

    With ``collect=False`` only the completion time and the figures are read
    back (what a large benchmark run needs), not every send and token.
    """
    db = db or Database(":memory:")
    db.migrate()
    origin = start_ms(start)
    clock = SimulatedClock(origin)
    settings = {"send_rate": send_rate} if send_rate else None
    engine = CampaignEngine.create(db, flow, clock, mode=mode, batch_size=batch_size, settings=settings)
    engine.enroll(leads)
    engine.record_events({**e, "at": origin + int(round(float(e["at"]) * 1000))} for e in events)
    limit = None if until is None else origin + int(round(until * 1000))
    if on_progress is None:
        engine.run_to_end(limit)
    else:
        while True:
            played = engine._one_batch(limit if limit is not None else 2**62)
            if not played:
                break
            on_progress(played)
    if not collect:
        from engine.run.report import campaign_figures

        with db.session() as s:
            figures = campaign_figures(s, engine.campaign_id)
        return SimulationResult(seconds(figures.complete_at, origin), [], [], [], [], engine.campaign_id,
                                engine.rows_written, figures=figures)
    return read_result(db, engine.campaign_id, origin, engine.rows_written)


def start_ms(start: Union[int, str, datetime, None]) -> int:
    """Campaign time 0 as epoch milliseconds (now when not given)."""
    if start is None:
        return int(time.time() * 1000)
    if isinstance(start, str):
        start = datetime.fromisoformat(start.strip().replace("Z", "+00:00"))
    if isinstance(start, datetime):
        if start.tzinfo is None:
            raise ValueError("the start needs a UTC offset, such as 2026-03-02T08:00:00+01:00")
        return int(start.timestamp() * 1000)
    return int(start)


def read_result(db: Database, campaign_id: int, origin: int, rows_written: int = 0) -> SimulationResult:
    with db.session() as s:
        from engine.store.models import Campaign

        campaign = s.get(Campaign, campaign_id)
        keys = dict(s.execute(select(Lead.id, Lead.key).where(Lead.campaign_id == campaign_id)).all())
        # A send's time is its delivered instant (SEMANTICS 9); sends still in the
        # queue when the simulation stopped (``--until``) are not sends yet.
        sends = [{"lead": keys[r.lead_id], "node": r.node, "at": seconds(r.at, origin)}
                 for r in s.execute(select(Send.lead_id, Send.node, Send.at)
                                    .where(Send.campaign_id == campaign_id, Send.status.not_in(UNSETTLED)))]
        sends.sort(key=lambda x: (x["at"], x["lead"], x["node"]))
        skips = [{"lead": keys[r.lead_id], "node": r.node, "at": seconds(r.at, origin)}
                 for r in s.execute(select(Skip.lead_id, Skip.node, Skip.at)
                                    .where(Skip.campaign_id == campaign_id))]
        skips.sort(key=lambda x: (x["at"], x["lead"], x["node"]))
        tokens = [{"lead": keys[r.lead_id], "id": r.id, "parent": r.parent_id, "tracked": r.tracked,
                   "state": r.state, "node": r.node, "finished_at": seconds(r.finished_at, origin)}
                  for r in s.execute(select(Token).where(Token.campaign_id == campaign_id)
                                     .order_by(Token.id)).scalars()]
        events = [{"lead": keys.get(r.lead_id, r.lead_key), "type": r.type, "email": _email_of(s, r),
                   "at": seconds(r.at, origin), "triggered": json.loads(r.triggered or "[]"),
                   **({"machine": True} if r.machine else {})}
                  for r in s.execute(select(Event).where(Event.campaign_id == campaign_id)
                                     .order_by(Event.at, Event.id)).scalars()]
        converted = [{"lead": r.key, "at": seconds(r.converted_at, origin)}
                     for r in s.execute(select(Lead.key, Lead.converted_at).where(
                         Lead.campaign_id == campaign_id, Lead.converted_at.is_not(None))
                         .order_by(Lead.converted_at, Lead.key))]
        from engine.run.report import campaign_figures

        return SimulationResult(seconds(campaign.complete_at, origin), sends, skips, tokens, events,
                                campaign_id, rows_written, figures=campaign_figures(s, campaign_id),
                                converted=converted)


def _email_of(session, event: Event) -> Optional[str]:
    if event.node:
        return event.node
    if event.send_id is not None:
        send = session.get(Send, event.send_id)
        return send.node if send else None
    return None

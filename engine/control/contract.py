"""The engine-app contract: what the control API and the CLI give out, as typed values.

The app, ``mailbranch status --json`` and the control API used to build these
as dicts in three places that drifted apart. Each view here is built once
(``views.py``) and turns itself into the JSON on the wire with ``as_json``; the
keys are the ones the app and the CLI's users already read. What the API takes
in (its commands) is in ``requests.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional

from engine.run.report import CampaignFigures


class FlatView:
    """A view whose JSON is its fields, by name, in the order they are declared."""

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class WindowHold:
    """A token held by a send window until it opens (SEMANTICS 10): which window, when it
    opens, and that instant on the lead's own clock, as the marketer reads it."""

    node: str
    opens_at: int
    #: The opening in the lead's local zone: ``Mon 09:00``.
    opens_local: str
    #: The IANA zone that clock is in (the lead's own where valid, else the window's or the flow's).
    zone: str

    @property
    def text(self) -> str:
        return f"opens {self.opens_local} local"

    def as_json(self) -> dict[str, Any]:
        return {"node": self.node, "opens_at": self.opens_at, "opens_local": self.opens_local, "zone": self.zone,
                "text": self.text}


@dataclass(frozen=True)
class TokenView:
    """One token of a lead: where it stands and how it got there."""

    id: int
    parent: Optional[int]
    node: str
    state: str
    tracked: bool
    path: dict[str, Any] = field(default_factory=dict)
    created_at: Optional[int] = None
    finished_at: Optional[int] = None
    #: Set while the token waits for a send window to open.
    window: Optional[WindowHold] = None

    def brief(self) -> dict[str, Any]:
        """What a row of the leads list needs."""
        return {"id": self.id, "parent": self.parent, "node": self.node, "state": self.state,
                "tracked": self.tracked, "window": self.window.as_json() if self.window else None}

    def as_json(self) -> dict[str, Any]:
        return {**self.brief(), "path": self.path, "created_at": self.created_at, "finished_at": self.finished_at}


@dataclass(frozen=True)
class LeadView:
    """A row of the leads list."""

    key: str
    email: Optional[str]
    unsubscribed: bool
    converted_at: Optional[int]
    tokens: list[TokenView]
    #: The version of the flow the lead is on (in flight: the running one; finished: the one it finished under).
    version: int = 1

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "email": self.email, "unsubscribed": self.unsubscribed,
                "converted_at": self.converted_at, "tokens": [t.brief() for t in self.tokens],
                "version": self.version}


@dataclass(frozen=True)
class LeadPage:
    total: int
    leads: list[LeadView]

    def as_json(self) -> dict[str, Any]:
        return {"total": self.total, "leads": [x.as_json() for x in self.leads]}


@dataclass(frozen=True)
class SendView(FlatView):
    id: int
    node: str
    at: int
    status: str
    opened_at: Optional[int]
    clicked_at: Optional[int]
    token: Optional[int]
    error: Optional[str]


@dataclass(frozen=True)
class EventView(FlatView):
    """An open, click or unsubscribe of the lead, and what it triggered."""

    type: str
    node: Optional[str]
    send: Optional[int]
    at: int
    url: Optional[str]
    state: str
    triggered: list[str]
    machine: bool = False


@dataclass(frozen=True)
class WaitView:
    """A timer of the lead: a wait's end, or (``window`` set) the opening of a send window."""

    node: str
    due_at: int
    state: str
    token: Optional[int]
    window: Optional[WindowHold] = None

    def as_json(self) -> dict[str, Any]:
        return {"node": self.node, "due_at": self.due_at, "state": self.state, "token": self.token,
                "window": self.window.as_json() if self.window else None}


@dataclass(frozen=True)
class SkipView(FlatView):
    node: str
    at: int
    reason: Optional[str]
    token: Optional[int]


@dataclass(frozen=True)
class Timeline:
    """Everything that happened to one lead, for the app's leads panel."""

    lead: str
    email: Optional[str]
    fields: dict[str, Any]
    sends: list[SendView]
    events: list[EventView]
    waits: list[WaitView]
    tokens: list[TokenView]
    skips: list[SkipView]
    paused: bool
    converted_at: Optional[int] = None

    def as_json(self) -> dict[str, Any]:
        return {"lead": self.lead, "email": self.email, "fields": self.fields,
                "sends": [x.as_json() for x in self.sends], "events": [x.as_json() for x in self.events],
                "waits": [x.as_json() for x in self.waits], "tokens": [x.as_json() for x in self.tokens],
                "skips": [x.as_json() for x in self.skips], "paused": self.paused,
                "converted_at": self.converted_at}


@dataclass(frozen=True)
class Hold(FlatView):
    """Whether the marketer paused or stopped the campaign (``pausing.campaign_state``)."""

    paused: bool
    paused_at: Optional[int]
    stopped_at: Optional[int]


@dataclass(frozen=True)
class CampaignStatus:
    """A campaign's figures as ``mailbranch status --json`` prints them: per-node counts,
    the latest sends that failed for good, and whether it is paused or stopped."""

    figures: CampaignFigures
    failed_sends: list[dict[str, Any]]
    hold: Hold
    #: What came back after delivery (``engine/bounces``): ``{"total": {...}, "nodes": {node: {...}}}``
    #: with ``bounced``, ``soft_bounced`` and ``complained``.
    bounces: dict[str, Any] = field(default_factory=dict)

    @property
    def campaign_id(self) -> int:
        return self.figures.campaign_id

    def as_json(self) -> dict[str, Any]:
        return dict(self.figures.as_json(), failed_sends=self.failed_sends, bounces=self.bounces,
                    **self.hold.as_json())


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign as the engine process holds it: the app's list of runs."""

    id: int
    name: str
    state: str
    simulated: bool
    started_at: int
    complete_at: Optional[int]
    now: Optional[int]
    speed: Optional[float]
    hold: Hold
    attached: bool
    flow: dict[str, Any]
    #: World-unique (SEMANTICS 12): how the app knows which flow file a campaign was started from.
    uid: str = ""

    def as_json(self, with_flow: bool = True) -> dict[str, Any]:
        data = {"id": self.id, "uid": self.uid, "name": self.name, "state": self.state, "simulated": self.simulated,
                "started_at": self.started_at, "complete_at": self.complete_at, "now": self.now,
                "speed": self.speed, **self.hold.as_json(), "attached": self.attached}
        if with_flow:
            data["flow"] = self.flow
        return data


@dataclass(frozen=True)
class CampaignView:
    """What the app's run view polls: the status, the summary, and the outbox it sends through."""

    status: CampaignStatus
    summary: CampaignSummary
    outbox: str
    outbox_status: Optional[dict[str, Any]]
    retries_waiting: dict[str, Optional[int]]
    finished_leads: int

    def as_json(self) -> dict[str, Any]:
        data = self.status.as_json()
        data.update(self.summary.as_json(with_flow=False))
        data.update(outbox=self.outbox, outbox_status=self.outbox_status, retries_waiting=self.retries_waiting,
                    finished_leads=self.finished_leads)
        return data


@dataclass(frozen=True)
class RecordedEvent(FlatView):
    """An event injected from outside (``mailbranch event``, the control API), as stored."""

    id: int
    campaign: int
    type: str
    lead: str
    email: Optional[str]
    url: Optional[str]
    at: int
    machine: bool
    #: When the lead had already converted before this (a conversion then changes nothing).
    converted_before: Optional[int] = None


@dataclass(frozen=True)
class Rejected(FlatView):
    """A row of a file that was not taken, and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class ConversionReport:
    """What a CSV of converted leads did: the rows recorded, the rows refused (each with its line)."""

    recorded: list[RecordedEvent]
    rejected: list[Rejected]

    def summary(self) -> str:
        text = f"{len(self.recorded)} conversion{'' if len(self.recorded) == 1 else 's'} recorded"
        if self.rejected:
            text += f", {len(self.rejected)} row{'' if len(self.rejected) == 1 else 's'} refused"
        return text

    def as_json(self) -> dict[str, Any]:
        return {"recorded": len(self.recorded), "leads": [e.lead for e in self.recorded],
                "rejected": [r.as_json() for r in self.rejected], "summary": self.summary()}

"""Finding a campaign, a lead and a send, and injecting events into a campaign.

``mailbranch event`` and the control API used to do this each their own way
(one matched a lead by key or address, the other by key only). Both now
come here, so the same request finds the same lead and stores the same row.

An injected event is a pending ``Event`` row, exactly like one the tracking
sink records for a real pixel or click: the engine handles it the same way
at its next pass (SEMANTICS 5). A conversion (SEMANTICS 10) is an event of
type ``convert`` for the lead, with no send and no node.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.control.contract import ConversionReport, RecordedEvent, Rejected
from engine.control.requests import EventCommand
from engine.store.bulk import begin_write
from engine.store.database import Database
from engine.store.models import Campaign, Event, Lead, Send

#: Where an injected event came from: a simulated open or click, or a conversion reported from outside.
SIMULATED = "simulated"
OUTSIDE = "outside"


class NotFound(LookupError):
    """The campaign, lead or send a request names is not there; the message says which."""


def find_campaign(s: Session, campaign_id: Optional[int] = None) -> Campaign:
    """The campaign with this id; without one, the newest campaign that sends (not a ``simulate --db`` run)."""
    if campaign_id is None:
        campaign_id = s.execute(select(func.max(Campaign.id)).where(Campaign.delivery == "real")).scalar()
        if campaign_id is None:
            raise NotFound("there is no running campaign in this database")
    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"there is no campaign {campaign_id} in this database")
    return campaign


def find_lead(s: Session, campaign_id: int, name: str) -> Lead:
    """The campaign's lead with this key; failing that, the one lead with this address (any case)."""
    lead = s.execute(select(Lead).where(Lead.campaign_id == campaign_id, Lead.key == name)).scalar()
    if lead is not None:
        return lead
    by_address = s.execute(select(Lead).where(Lead.campaign_id == campaign_id,
                                              func.lower(Lead.email) == name.strip().lower()).limit(2)).scalars().all()
    if len(by_address) == 1:
        return by_address[0]
    if by_address:
        raise NotFound(f"campaign {campaign_id} has several leads at “{name}”; name one by its key")
    raise NotFound(f"campaign {campaign_id} has no lead “{name}”")


def find_send(s: Session, lead: Lead, email: str) -> Send:
    """The lead's send of this email node (a lead gets a node at most once: SEMANTICS 4)."""
    send = s.execute(select(Send).where(Send.lead_id == lead.id, Send.node == email).order_by(Send.id)
                     .limit(1)).scalar()
    if send is None:
        raise NotFound(f"lead “{lead.key}” has not been sent “{email}” (yet); nothing recorded")
    return send


def event_time(campaign: Campaign, wall_ms: int) -> int:
    """When an event injected now happens: a simulation's own clock (as last saved), else the wall clock."""
    settings = campaign.settings or {}
    if settings.get("simulated") and settings.get("sim_now") is not None:
        return int(settings["sim_now"])
    return wall_ms


def inject(db: Database, campaign_id: Optional[int], command: EventCommand, at: Optional[int],
           wall_ms: int) -> RecordedEvent:
    """Record one event for one lead; ``at`` None means now on the campaign's clock.

    Raises ``NotFound`` (nothing recorded) when the campaign, lead or send is not there.
    """
    with db.session() as s:
        begin_write(s)
        campaign = find_campaign(s, campaign_id)
        lead = find_lead(s, campaign.id, command.lead)
        when = event_time(campaign, wall_ms) if at is None else at
        event = _record(s, campaign, lead, command, when)
        _wake_workers(s, campaign, [(lead.id, when)])
        return event


def convert_rows(db: Database, campaign_id: Optional[int], rows: Iterable[tuple[int, str]], at: Optional[int],
                 wall_ms: int, rejected: Iterable[Rejected] = ()) -> ConversionReport:
    """Record a conversion for each (line, lead) row; a row naming no lead of the campaign,
    or a lead already named higher up, is refused with its line, and the others are still recorded."""
    refused = list(rejected)
    recorded: list[RecordedEvent] = []
    with db.session() as s:
        begin_write(s)
        campaign = find_campaign(s, campaign_id)
        when = event_time(campaign, wall_ms) if at is None else at
        seen: dict[int, int] = {}
        for line, name in rows:
            try:
                lead = find_lead(s, campaign.id, name)
            except NotFound as exc:
                refused.append(Rejected(line, str(exc)))
                continue
            if lead.id in seen:
                refused.append(Rejected(line, f"lead “{lead.key}” is already on line {seen[lead.id]}"))
                continue
            seen[lead.id] = line
            recorded.append(_record(s, campaign, lead, EventCommand("convert", name), when))
        _wake_workers(s, campaign, [(lead_id, when) for lead_id in seen])
    refused.sort(key=lambda r: r.line)
    return ConversionReport(recorded, refused)


def read_keys_csv(text: str) -> tuple[list[tuple[int, str]], list[Rejected]]:
    """Lead keys from a CSV: the first line names the columns; the keys are in the column named
    ``key`` (any case), or else in the first column. Returns (line, key) rows and the empty ones."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows: list[tuple[int, str]] = []
    rejected: list[Rejected] = []
    header: Optional[list[str]] = None
    column = 0
    for record in reader:
        line = reader.line_num
        if header is None:
            if not any(cell.strip() for cell in record):
                continue
            header = [cell.strip().lower() for cell in record]
            column = header.index("key") if "key" in header else 0
            continue
        if not any(cell.strip() for cell in record):
            continue
        key = record[column].strip() if column < len(record) else ""
        if not key:
            rejected.append(Rejected(line, f"no lead key in column “{header[column] or column + 1}”"))
        else:
            rows.append((line, key))
    return rows, rejected


def _record(s: Session, campaign: Campaign, lead: Lead, command: EventCommand, at: int) -> RecordedEvent:
    send = find_send(s, lead, command.email) if command.email is not None else None
    converted_before = lead.converted_at
    event = Event(campaign_id=campaign.id, lead_id=lead.id, lead_key=lead.key, type=command.type,
                  node=send.node if send else None, send_id=send.id if send else None,
                  url=command.url if command.type == "click" else None, at=at,
                  source=OUTSIDE if command.type == "convert" else SIMULATED, machine=command.machine,
                  state="pending", triggered="[]")
    s.add(event)
    s.flush()
    return RecordedEvent(event.id, campaign.id, command.type, lead.key, command.email, event.url, at,
                         command.machine, converted_before)


def _wake_workers(s: Session, campaign: Campaign, items: list[tuple[int, int]]) -> None:
    """A distributed campaign's workers sleep until a job wakes their shard: defer one for these events."""
    settings = campaign.settings or {}
    if not settings.get("distributed") or not items:
        return
    from engine.scale.jobs import DEFAULT_SHARDS, ShardJobs

    ShardJobs(campaign.id, int(settings.get("shards", DEFAULT_SHARDS))).wake_at(s, items)

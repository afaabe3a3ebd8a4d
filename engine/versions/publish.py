"""Publish an edited flow to a running campaign, or an old version back (rollback).

One transaction, on SQLite and PostgreSQL alike (SEMANTICS 11): the campaign
row is locked for update first, so batches under way finish before and
later ones start after (``CampaignEngine._follow_version`` takes a key-share
lock on it); then the leads the edit touches are loaded, changed in memory by
``apply_plan`` and written back with the same compare-and-set statements the
engine uses, the new version is recorded and the campaign switched to it. A
crash anywhere before the commit leaves the campaign on the old version,
whole; after it, on the new one, whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.faults import crash_point
from engine.flow.fileformat import dumps_flow, loads_flow
from engine.flow.model import Flow
from engine.flow.validate import validate
from engine.run.batch import Batch, ConcurrentTransition
from engine.run.clock import Clock, SystemClock
from engine.run.engine import CampaignEngine
from engine.store.bulk import begin_write, execute_many
from engine.store.database import Database
from engine.store.models import Campaign, CampaignVersion, Listener, Send, Wait
from engine.store.statements import PARAM
from engine.store.statements import update as update_sql
from engine.versions.apply import Applied, apply_plan, bulk_objects
from engine.versions.loading import load_for_plan
from engine.versions.plan import Plan, make_plan

RETIME_WAIT = update_sql(Wait.due_at, Wait.started_at, where=(Wait.id == PARAM, Wait.state == "pending"))
FOLLOW_LISTENER = update_sql(Listener.until, Listener.event, Listener.url, Listener.mode,
                             where=(Listener.id == PARAM, Listener.state == "listening"))
CANCEL_SEND = update_sql((Send.status, "cancelled"), Send.error,
                         where=(Send.id == PARAM, Send.status.in_(("queued", "planned"))))


class PublishError(RuntimeError):
    """The flow cannot be published; the message says why and what to do."""


@dataclass
class PublishResult:
    campaign_id: int
    number: int
    published_at: int
    changes: dict[str, Any] = field(default_factory=dict)


def current_flow(db: Database, campaign_id: int) -> tuple[Flow, int]:
    """The flow the campaign runs now, and its version number."""
    with db.session() as s:
        campaign = s.get(Campaign, campaign_id)
        if campaign is None:
            raise PublishError(f"there is no campaign {campaign_id} in this database")
        return loads_flow(campaign.flow_json), campaign.version


def check_publishable(flow: Flow) -> None:
    errors = [f for f in validate(flow) if f.is_error]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PublishError(f"the edited flow cannot run: {errors[0].message}{more}")


def publish(db: Database, campaign_id: int, flow: Flow, *, mapping: Optional[dict[str, str]] = None,
            note: Optional[str] = None, clock: Optional[Clock] = None,
            base_version: Optional[int] = None) -> PublishResult:
    """Make ``flow`` the campaign's next version and move the leads in flight onto it.

    ``mapping``: removed node -> node of ``flow`` (or ``finish``) for the tokens
    standing on it; ``base_version``: refuse if another publish came first
    (the preview the marketer saw was of that version)."""
    check_publishable(flow)
    clock = clock or SystemClock()
    engine = CampaignEngine(db, campaign_id, clock)
    for _attempt in range(3):
        try:
            with bulk_objects(), db.session() as s:
                begin_write(s)
                result = _publish(s, engine, flow, mapping, note, base_version)
            return result
        except ConcurrentTransition:
            engine.ctx.ids.forget()
    raise PublishError("the campaign kept changing while publishing; try again")


def _publish(s: Session, engine: CampaignEngine, flow: Flow, mapping: Optional[dict[str, str]],
             note: Optional[str], base_version: Optional[int]) -> PublishResult:
    cid = engine.campaign_id
    campaign = s.execute(select(Campaign).where(Campaign.id == cid).with_for_update()).scalar_one()
    if base_version is not None and campaign.version != base_version:
        raise PublishError(f"version {campaign.version} was published after the preview you saw (of version "
                           f"{base_version}); preview again")
    at = engine.clock.now()
    old = loads_flow(campaign.flow_json)
    plan = make_plan(old, flow, mapping, (campaign.settings or {}).get("mode"))
    number = _ensure_first_version(s, campaign) + 1
    crash_point("publish_locked")
    engine.use_flow(flow, number)
    batch = Batch(engine.ctx, s, at)
    load_for_plan(s, batch, cid, plan)
    crash_point("publish_mid")
    done = apply_plan(batch, plan, at)
    batch.flush()
    _write(s, engine, done)
    engine.flush_campaign(s, batch)
    changes = summary(plan, done, campaign.version)
    s.add(CampaignVersion(campaign_id=cid, number=number, flow_json=dumps_flow(flow), published_at=at, note=note,
                          changes=json.dumps(changes)))
    s.execute(update(Campaign).where(Campaign.id == cid).values(flow_json=dumps_flow(flow), version=number))
    crash_point("publish_before_commit")
    return PublishResult(cid, number, at, changes)


def _write(s: Session, engine: CampaignEngine, done: Applied) -> None:
    """What ``Batch.flush`` does not write: new end instants and listeners' new settings."""
    rows = [(w.due_at, w.started_at, w.id) for w, _before in done.retimed]
    if execute_many(s, RETIME_WAIT, rows) != len(rows):
        raise ConcurrentTransition("a wait fired while publishing")
    rows = [(x.until, x.event, x.url, x.mode, x.id) for x in done.listeners]
    if execute_many(s, FOLLOW_LISTENER, rows) != len(rows):
        raise ConcurrentTransition("a listener moved on while publishing")
    execute_many(s, CANCEL_SEND, [("the email was removed from the campaign", x.id) for x in done.cancelled])
    if engine.ctx.jobs is not None and done.retimed:
        engine.ctx.jobs.wake_jobs_for_waits(s, [(w.id, w.lead_id, w.due_at) for w, _before in done.retimed])


def _ensure_first_version(s: Session, campaign: Campaign) -> int:
    """The highest version number, recording the running flow as version 1 if no
    version was ever recorded (a campaign made before versions existed)."""
    highest = s.execute(select(func.max(CampaignVersion.number))
                        .where(CampaignVersion.campaign_id == campaign.id)).scalar()
    if highest is None:
        s.add(CampaignVersion(campaign_id=campaign.id, number=campaign.version, flow_json=campaign.flow_json,
                              published_at=campaign.started_at))
        highest = campaign.version
    return max(highest, campaign.version)


def summary(plan: Plan, done: Applied, based_on: int) -> dict[str, Any]:
    """What publishing did, as kept with the version and shown in the report."""
    ends = [w.due_at for w, _before in done.retimed]
    return {
        "based_on": based_on,
        "removed": plan.removed, "added": plan.added, "changed": plan.changed, "content": plan.content,
        "retimed_nodes": plan.retimed, "rewired": plan.rewired,
        "moved": [{"from": a, "to": b, "tokens": n} for (a, b), n in sorted(done.moved.items())],
        "retimed_waits": len(done.retimed),
        "retimed_ends": [min(ends), max(ends)] if ends else None,
        "listeners_followed": len(done.listeners), "listeners_stopped": sum(done.stopped_listening.values()),
        "emails_not_sent": len(done.cancelled),
    }

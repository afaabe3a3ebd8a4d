"""Load into a batch only what applying a plan touches.

Publishing a shorter wait to 100,000 leads in flight needs their pending
waits on that node and the listeners of the conditions it times, not every
row of every lead: those are read with one query each, straight into the
batch's indexes. Leads with a token on a removed node are loaded whole
(those tokens walk on in the new version, which may send, hold or listen).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.run.batch import Batch
from engine.run.state import LeadState, ListenerState, SendState, TokenState, WaitState
from engine.store.bulk import fetch_all
from engine.store.models import Lead, Listener, Send, Token, Wait
from engine.store.statements import PARAM, sql
from engine.versions.plan import Plan

_WAITS = select(Wait.id, Wait.token_id, Wait.lead_id, Wait.node, Wait.due_at, Wait.state, Wait.fired_at,
                Wait.started_at).where(Wait.campaign_id == PARAM, Wait.state == "pending")
_TOKENS = select(Token.id, Token.lead_id, Token.parent_id, Token.node, Token.state, Token.tracked, Token.last_send,
                 Token.created_at, Token.version).where(Token.campaign_id == PARAM, Token.state == "waiting")
_UNSENT = select(Send.id, Send.lead_id, Send.token_id, Send.node, Send.at, Send.message_id, Send.status).where(
    Send.campaign_id == PARAM, Send.status.in_(("queued", "planned")))
_LISTENERS = select(Listener.id, Listener.lead_id, Listener.token_id, Listener.condition, Listener.send_id,
                    Listener.event, Listener.url, Listener.mode, Listener.since, Listener.until, Listener.state,
                    Listener.triggered_token).where(Listener.campaign_id == PARAM, Listener.state == "listening")


def walking_leads(s: Session, campaign_id: int, plan: Plan) -> list[int]:
    """Leads with a token standing on a removed node."""
    if not plan.removed:
        return []
    return sorted(s.execute(select(Token.lead_id).distinct().where(
        Token.campaign_id == campaign_id, Token.state == "waiting", Token.node.in_(plan.removed))).scalars())


def load_for_plan(s: Session, batch: Batch, campaign_id: int, plan: Plan, whole: bool = True) -> None:
    """Fill ``batch`` with what ``apply_plan`` reads and changes. ``whole=False``
    (the preview's count, ``apply_plan(walk=False)``): of the leads on removed
    nodes only those tokens and their unsent emails."""
    # Leads loaded whole are in the batch's lead table: their listeners are loaded already.
    others = ""
    if whole:
        walking = walking_leads(s, campaign_id, plan)
        if walking:
            batch.load(set(walking))
            others = " AND lead_id NOT IN (SELECT lead_id FROM batch_leads)"
    elif plan.removed:
        nodes = ", ".join("?" for _ in plan.removed)
        for r in fetch_all(s, sql(_TOKENS) + f" AND node IN ({nodes})", (campaign_id, *plan.removed)):
            batch.tokens[r[0]] = TokenState(*r[:5], bool(r[5]), None, r[6], r[7], None, r[8])
        for r in fetch_all(s, sql(_UNSENT) + f" AND node IN ({nodes})", (campaign_id, *plan.removed)):
            batch.sends[r[0]] = SendState(*r)
    if plan.retimed:
        nodes = ", ".join("?" for _ in plan.retimed)
        # Walking leads' waits too: their loaded rows lack the start a re-timing keeps.
        rows = fetch_all(s, sql(_WAITS) + f" AND node IN ({nodes})", (campaign_id, *plan.retimed))
        for r in rows:
            known = batch.waits.get(r[0])
            if known is not None:
                known.started_at = r[7]
                continue
            wait = WaitState(*r[:7], started_at=r[7])
            batch.waits[wait.id] = wait
            batch.waits_by_token[wait.token_id].append(wait)
        _load_leads(s, batch, plan, rows)
    if plan.conditions:
        known_ids = {x.id for x in batch.listeners}
        nodes = ", ".join("?" for _ in plan.conditions)
        for r in fetch_all(s, sql(_LISTENERS) + f" AND condition IN ({nodes})" + others,
                           (campaign_id, *plan.conditions)):
            if r[0] not in known_ids:
                batch._index_listener(ListenerState(*r))


def _load_leads(s: Session, batch: Batch, plan: Plan, waits: list[tuple]) -> None:
    """The leads of re-timed windows that open by the lead's own time zone (a lead field)."""
    by_lead = {n for n in plan.retimed if getattr(plan.new_spec.compiled.get(n), "zone_field", None)}
    wanted = sorted({r[2] for r in waits if r[3] in by_lead} - set(batch.leads))
    for start in range(0, len(wanted), 1000):
        part = wanted[start:start + 1000]
        for lead_id, key, email, fields in s.execute(select(Lead.id, Lead.key, Lead.email, Lead.fields)
                                                     .where(Lead.id.in_(part))):
            batch.leads[lead_id] = LeadState(lead_id, key, email, fields if isinstance(fields, dict) else {})

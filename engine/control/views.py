"""The contract's views, read from the database in one place.

``mailbranch status``, ``mailbranch run``'s live line and the control API all
show a campaign's status; the app's leads panel and the API's timeline show a
lead. Each is read here, once, into the typed values of ``contract.py``.
"""

from __future__ import annotations

import json
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.control.campaigns import find_lead
from engine.control.contract import (
    CampaignStatus,
    EventView,
    Hold,
    LeadPage,
    LeadView,
    SendView,
    SkipView,
    Timeline,
    TokenView,
    WaitView,
)
from engine.run.report import BEHAVIOUR_EVENTS, campaign_figures
from engine.runtime import pausing
from engine.runtime import status as runtime_status
from engine.store.models import Campaign, Event, Lead, Send, Skip, Token, Wait


def hold_of(campaign: Campaign) -> Hold:
    state = pausing.campaign_state(campaign.settings, campaign.state)
    return Hold(state["paused"], state["paused_at"], state["stopped_at"])


def campaign_status(s: Session, campaign_id: int, with_failures: bool = True) -> CampaignStatus:
    """Figures, failed sends and pause state; raises ``LookupError`` for a campaign that is not there."""
    figures = campaign_figures(s, campaign_id)
    campaign = s.get(Campaign, campaign_id)
    failures = runtime_status.failed_sends(s, campaign_id) if with_failures else []
    return CampaignStatus(figures, failures, hold_of(campaign))


def _token(t: Token) -> TokenView:
    return TokenView(t.id, t.parent_id, t.node, t.state, t.tracked, json.loads(t.path) if t.path else {},
                     t.created_at, t.finished_at)


def lead_page(s: Session, campaign_id: int, offset: int = 0, limit: int = 200, query: str = "") -> LeadPage:
    """One page of the campaign's leads, each with its tokens; ``query`` matches key or address."""
    stmt = select(Lead).where(Lead.campaign_id == campaign_id)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(Lead.key.ilike(like) | Lead.email.ilike(like))
    total = s.execute(select(func.count()).select_from(stmt.subquery())).scalar() or 0
    leads = s.execute(stmt.order_by(Lead.id).offset(offset).limit(limit)).scalars().all()
    tokens: dict[int, list[TokenView]] = {x.id: [] for x in leads}
    if tokens:
        for t in s.execute(select(Token).where(Token.lead_id.in_(list(tokens))).order_by(Token.id)).scalars():
            tokens[t.lead_id].append(_token(t))
    return LeadPage(total, [LeadView(x.key, x.email, x.unsubscribed_at is not None, x.converted_at, tokens[x.id])
                            for x in leads])


def timeline(s: Session, campaign_id: int, lead_name: str, start_node: Optional[str] = None) -> Timeline:
    """Everything that happened to one lead (named by key or address); the start node's own wait is left out."""
    lead = find_lead(s, campaign_id, lead_name)
    sends = [SendView(x.id, x.node, x.at, x.status, x.opened_at, x.clicked_at, x.token_id, x.error)
             for x in s.execute(select(Send).where(Send.lead_id == lead.id).order_by(Send.at)).scalars()]
    events = [EventView(e.type, e.node, e.send_id, e.at, e.url, e.state, json.loads(e.triggered or "[]"),
                        bool(e.machine))
              for e in s.execute(select(Event).where(Event.lead_id == lead.id, Event.type.in_(BEHAVIOUR_EVENTS))
                                 .order_by(Event.at)).scalars()]
    waits = [WaitView(w.node, w.due_at, w.state, w.token_id)
             for w in s.execute(select(Wait).where(Wait.lead_id == lead.id).order_by(Wait.due_at)).scalars()
             if w.node != start_node]
    tokens = [_token(t) for t in s.execute(select(Token).where(Token.lead_id == lead.id).order_by(Token.id))
              .scalars()]
    skips = [SkipView(k.node, k.at, k.reason, k.token_id)
             for k in s.execute(select(Skip).where(Skip.lead_id == lead.id).order_by(Skip.at)).scalars()]
    campaign = s.get(Campaign, campaign_id)
    return Timeline(lead.key, lead.email, lead.fields, sends, events, waits, tokens, skips,
                    hold_of(campaign).paused, lead.converted_at)

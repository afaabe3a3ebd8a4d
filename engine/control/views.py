"""The contract's views, read from the database in one place.

``mailbranch status``, ``mailbranch run``'s live line and the control API all
show a campaign's status; the app's leads panel and the API's timeline show a
lead. Each is read here, once, into the typed values of ``contract.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bounces.figures import bounce_figures
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
    WindowHold,
)
from engine.flow.fileformat import loads_flow
from engine.nodes.registry import node_type
from engine.nodes.window import WindowSpec
from engine.nodes.window_times import DAYS
from engine.run.report import BEHAVIOUR_EVENTS, campaign_figures
from engine.run.state import LeadState
from engine.runtime import pausing
from engine.runtime import status as runtime_status
from engine.store.models import Campaign, Event, Lead, Send, Skip, Token, Wait
from engine.versions import store as versions_store


def hold_of(campaign: Campaign) -> Hold:
    state = pausing.campaign_state(campaign.settings, campaign.state)
    return Hold(state["paused"], state["paused_at"], state["stopped_at"])


def campaign_status(s: Session, campaign_id: int, with_failures: bool = True) -> CampaignStatus:
    """Figures, failed sends and pause state; raises ``LookupError`` for a campaign that is not there."""
    figures = campaign_figures(s, campaign_id)
    campaign = s.get(Campaign, campaign_id)
    failures = runtime_status.failed_sends(s, campaign_id) if with_failures else []
    nodes = bounce_figures(s, campaign_id)
    total = {key: sum(getattr(n, key) for n in nodes.values()) for key in ("bounced", "soft_bounced", "complained")}
    return CampaignStatus(figures, failures, hold_of(campaign),
                          {"total": total, "nodes": {node: n.as_json() for node, n in nodes.items()}})


class WindowClocks:
    """The send windows of a campaign's flow, to say when a held lead's window opens on its own clock."""

    def __init__(self, campaign: Campaign) -> None:
        flow = loads_flow(campaign.flow_json)
        self.specs: dict[str, WindowSpec] = {}
        for node in flow.nodes:
            descriptor = node_type(node.type)
            if not descriptor.holds or descriptor.problems(node, flow):
                continue
            spec = descriptor.compile(node, flow, {})
            if isinstance(spec, WindowSpec):
                self.specs[node.id] = spec

    def hold(self, node: str, due_at: int, lead: Lead) -> Optional[WindowHold]:
        """The hold of ``lead`` on ``node`` until ``due_at``, if ``node`` is a window."""
        spec = self.specs.get(node)
        if spec is None:
            return None
        tz = spec.zone_of(LeadState(lead.id, lead.key, lead.email, lead.fields or {}))
        local = datetime.fromtimestamp(due_at / 1000, UTC).astimezone(tz)
        return WindowHold(node, due_at, f"{DAYS[local.weekday()].capitalize()} {local:%H:%M}", tz.key)


def _token(t: Token, window: Optional[WindowHold] = None) -> TokenView:
    return TokenView(t.id, t.parent_id, t.node, t.state, t.tracked, json.loads(t.path) if t.path else {},
                     t.created_at, t.finished_at, window)


def _pending_windows(s: Session, clocks: WindowClocks, leads: dict[int, Lead]) -> dict[int, WindowHold]:
    """Token id -> the window it waits for, for the tokens of ``leads`` that a window holds."""
    if not clocks.specs or not leads:
        return {}
    rows = s.execute(select(Wait.token_id, Wait.node, Wait.due_at, Wait.lead_id)
                     .where(Wait.lead_id.in_(list(leads)), Wait.state == "pending",
                            Wait.node.in_(list(clocks.specs)))).all()
    return {token: hold for token, node, due, lead in rows
            if (hold := clocks.hold(node, due, leads[lead])) is not None}


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
        rows = s.execute(select(Token).where(Token.lead_id.in_(list(tokens))).order_by(Token.id)).scalars().all()
        held = _pending_windows(s, WindowClocks(s.get(Campaign, campaign_id)), {x.id: x for x in leads})
        for t in rows:
            tokens[t.lead_id].append(_token(t, held.get(t.id)))
    version_at = versions_store.version_at(s, campaign_id)
    return LeadPage(total, [LeadView(x.key, x.email, x.unsubscribed_at is not None, x.converted_at, tokens[x.id],
                                     version_at(_last_finished(tokens[x.id])))
                            for x in leads])


def _last_finished(tokens: list[TokenView]) -> Optional[int]:
    """When the lead's last path finished; None while one is still in flight."""
    if not tokens or any(t.state == "waiting" for t in tokens):
        return None
    return max((t.finished_at for t in tokens if t.finished_at is not None), default=None)


def timeline(s: Session, campaign_id: int, lead_name: str, start_node: Optional[str] = None) -> Timeline:
    """Everything that happened to one lead (named by key or address); the start node's own wait is left out."""
    lead = find_lead(s, campaign_id, lead_name)
    sends = [SendView(x.id, x.node, x.at, x.status, x.opened_at, x.clicked_at, x.token_id, x.error)
             for x in s.execute(select(Send).where(Send.lead_id == lead.id).order_by(Send.at)).scalars()]
    events = [EventView(e.type, e.node, e.send_id, e.at, e.url, e.state, json.loads(e.triggered or "[]"),
                        bool(e.machine))
              for e in s.execute(select(Event).where(Event.lead_id == lead.id, Event.type.in_(BEHAVIOUR_EVENTS))
                                 .order_by(Event.at)).scalars()]
    campaign = s.get(Campaign, campaign_id)
    clocks = WindowClocks(campaign)
    waits = [WaitView(w.node, w.due_at, w.state, w.token_id, clocks.hold(w.node, w.due_at, lead))
             for w in s.execute(select(Wait).where(Wait.lead_id == lead.id).order_by(Wait.due_at)).scalars()
             if w.node != start_node]
    token_rows = s.execute(select(Token).where(Token.lead_id == lead.id).order_by(Token.id)).scalars().all()
    held = _pending_windows(s, clocks, {lead.id: lead})
    tokens = [_token(t, held.get(t.id)) for t in token_rows]
    skips = [SkipView(k.node, k.at, k.reason, k.token_id)
             for k in s.execute(select(Skip).where(Skip.lead_id == lead.id).order_by(Skip.at)).scalars()]
    return Timeline(lead.key, lead.email, lead.fields, sends, events, waits, tokens, skips,
                    hold_of(campaign).paused, lead.converted_at)

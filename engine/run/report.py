"""Per-node and per-edge figures of a campaign, read straight from its tables.

``mailbranch status``, the simulator's summary and the app's run overlay all
show these, so they are computed in one place with grouped queries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.flow.fileformat import loads_flow
from engine.nodes.registry import node_type
from engine.store.models import Campaign, EdgeCount, Event, Lead, Send, Skip, Token, Wait

#: What leads did (the figures count these), as opposed to the engine's own
#: bookkeeping of a send's fate (delivered, skipped, failed).
BEHAVIOUR_EVENTS = ("open", "click", "unsubscribe")


@dataclass
class NodeFigures:
    node: str
    type: str
    waiting: int = 0
    passed: int = 0
    finished: int = 0
    failed: int = 0
    sent: int = 0
    queued: int = 0
    send_failed: int = 0
    skipped: int = 0
    opened: int = 0
    clicked: int = 0
    #: Sends a machine opened or clicked (privacy proxies, link scanners; SEMANTICS 5),
    #: beside what people did (``opened``, ``clicked``).
    machine_opened: int = 0
    machine_clicked: int = 0
    yes: int = 0
    no: int = 0
    #: Tokens that left by each output port (a split's branches, a check's yes/no...).
    ports: dict[str, int] = field(default_factory=dict)
    #: What the node type adds (a split: each branch's leads and the emails below it).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def open_rate(self) -> Optional[float]:
        return self.opened / self.sent if self.sent else None

    @property
    def click_rate(self) -> Optional[float]:
        return self.clicked / self.sent if self.sent else None


@dataclass
class CampaignFigures:
    campaign_id: int
    name: str
    state: str
    started_at: int
    complete_at: Optional[int]
    leads: int
    tracked_open: int
    tokens_active: int
    events: int
    late_events: int
    retries: int
    pending_waits: int
    pending_events: int
    nodes: dict[str, NodeFigures]
    edges: dict[tuple[str, str], int]
    #: Leads that reached the campaign's goal (SEMANTICS 10).
    converted: int = 0
    #: Opens and clicks made by machines, not counted in ``events``.
    machine_events: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_id, "name": self.name, "state": self.state,
            "started_at": self.started_at, "complete_at": self.complete_at, "leads": self.leads,
            "tracked_open": self.tracked_open, "tokens_active": self.tokens_active,
            "events": self.events, "late_events": self.late_events, "retries": self.retries,
            "pending_waits": self.pending_waits, "pending_events": self.pending_events,
            "converted": self.converted, "machine_events": self.machine_events,
            "nodes": {k: {**_plain(v), "open_rate": v.open_rate, "click_rate": v.click_rate}
                      for k, v in self.nodes.items()},
            "edges": [{"from": s, "port": p, "count": c} for (s, p), c in sorted(self.edges.items())],
        }


def _plain(figures: NodeFigures) -> dict[str, Any]:
    data = asdict(figures)
    extra = data.pop("extra")
    return {**data, **extra}


def campaign_figures(session: Session, campaign_id: int) -> CampaignFigures:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"there is no campaign {campaign_id}")
    flow = loads_flow(campaign.flow_json)
    nodes = {n.id: NodeFigures(n.id, n.type) for n in flow.nodes}

    def each(stmt):
        return session.execute(stmt).all()

    cid = campaign_id
    for node, state, count in each(select(Token.node, Token.state, func.count())
                                   .where(Token.campaign_id == cid).group_by(Token.node, Token.state)):
        figures = nodes.get(node)
        if figures is None:
            continue
        if state == "waiting":
            figures.waiting += count
        elif state == "finished":
            figures.finished += count
        elif state == "failed":
            figures.failed += count
    edges: dict[tuple[str, str], int] = {}
    for node, port, count in each(select(EdgeCount.node, EdgeCount.port, EdgeCount.count)
                                  .where(EdgeCount.campaign_id == cid)):
        edges[(node, port)] = count
        if node in nodes:
            nodes[node].passed += count
            nodes[node].ports[port] = count
            if port == "yes":
                nodes[node].yes += count
            elif port == "no":
                nodes[node].no += count
    for node, status, count, opened, clicked, machine_opened, machine_clicked in each(
            select(Send.node, Send.status, func.count(), func.count(Send.opened_at), func.count(Send.clicked_at),
                   func.count(Send.machine_opened_at), func.count(Send.machine_clicked_at))
            .where(Send.campaign_id == cid).group_by(Send.node, Send.status)):
        figures = nodes.get(node)
        if figures is None:
            continue
        if status == "sent":
            figures.sent += count
        elif status == "failed":
            figures.send_failed += count
        else:
            figures.queued += count
        figures.opened += opened
        figures.clicked += clicked
        figures.machine_opened += machine_opened
        figures.machine_clicked += machine_clicked
    for node, count in each(select(Skip.node, func.count()).where(Skip.campaign_id == cid).group_by(Skip.node)):
        if node in nodes:
            nodes[node].skipped += count

    def count(model, *where) -> int:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar() or 0

    leads = count(Lead, Lead.campaign_id == cid)
    active = count(Token, Token.campaign_id == cid, Token.state == "waiting")
    waits = count(Wait, Wait.campaign_id == cid, Wait.state == "pending")
    # All, late (handled, triggered nothing) and not yet handled events, in one pass.
    events, late, pending, machine = session.execute(select(
        func.count().filter(Event.machine.is_(False)),
        func.count().filter(Event.state == "handled", Event.triggered == "[]", Event.machine.is_(False)),
        func.count().filter(Event.state == "pending"), func.count().filter(Event.machine.is_(True)))
        .where(Event.campaign_id == cid, Event.type.in_(BEHAVIOUR_EVENTS))).one()
    converted = count(Lead, Lead.campaign_id == cid, Lead.converted_at.is_not(None))
    for node in flow.nodes:
        nodes[node.id].extra = node_type(node.type).extra_figures(node, flow, nodes)
    attempts, failed_sends = session.execute(select(func.coalesce(func.sum(Send.attempts), 0),
                                                    func.count(Send.id).filter(Send.status == "failed"))
                                             .where(Send.campaign_id == cid)).one()
    return CampaignFigures(cid, campaign.name, campaign.state, campaign.started_at, campaign.complete_at,
                           leads, campaign.open_tracked, active, events, late,
                           max(0, int(attempts) - int(failed_sends)), waits, pending, nodes, edges,
                           converted, machine)

"""What publishing an edit would do to the leads in flight, before anything changes.

The leads whose future the edit can touch (a token on or before a changed
node, a wait to re-time, a listener of a changed condition) are loaded once
per version into the engine's own in-memory batch, and played forward from
now with no events, to the end: once as the campaign runs now, once after
``apply_plan`` (what publishing does). Nothing is written. The emails each
lead gets in one play and not the other are what the edit gains or loses;
the re-timed waits, listeners and moved tokens come from ``apply_plan``
itself, so the preview is what publishing does.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.flow.model import Flow
from engine.run.batch import EVENT, WAIT, Batch, chunks
from engine.run.clock import Clock, SimulatedClock, SystemClock
from engine.run.context import RunContext
from engine.run.spec import CampaignSpec
from engine.run.state import EventState
from engine.store.database import Database
from engine.store.models import Campaign, Lead, Token
from engine.versions.alike import alike
from engine.versions.apply import UNSENT, Applied, apply_plan, bulk_objects
from engine.versions.loading import load_for_plan
from engine.versions.plan import Plan, make_plan
from engine.versions.publish import check_publishable

FOREVER = 2**62
#: How many leads a report lists by name; the counts cover them all.
LISTED = 200


class _PreviewIds:
    """Ids for rows a preview makes and never writes: far above any real one."""

    def __init__(self) -> None:
        self.next = 2**60

    def take(self, session: Any, name: str) -> int:
        self.next += 1
        return self.next

    def forget(self) -> None:
        pass


@dataclass
class NodeImpact:
    node: str
    type: str
    #: removed | added | changed | re-timed | content | rewired | same
    status: str
    #: Tokens standing on it now.
    tokens: int = 0
    #: Where a removed node's tokens would go: a node id, or "finish".
    goes_to: Optional[str] = None
    retimed: int = 0
    #: Earliest and latest new end of its re-timed waits (ms).
    new_ends: Optional[tuple[int, int]] = None
    listeners: int = 0
    stop_listening: int = 0
    #: Leads who would now get this email / no longer get it.
    gained: int = 0
    lost: int = 0
    not_sent: int = 0


@dataclass
class Impact:
    campaign_id: int
    version: int
    at: int
    nodes: list[NodeImpact] = field(default_factory=list)
    #: Lead key -> emails it would now get / lose (at most ``LISTED`` leads each).
    gained: dict[str, list[str]] = field(default_factory=dict)
    lost: dict[str, list[str]] = field(default_factory=dict)
    leads_gaining: int = 0
    leads_losing: int = 0
    #: Leads played forward under both versions, and how many plays that took (alike leads play once).
    leads_simulated: int = 0
    plays: int = 0
    in_flight: int = 0

    @property
    def unmapped(self) -> dict[str, int]:
        """Removed nodes that hold tokens: the marketer picks where those go."""
        return {n.node: n.tokens for n in self.nodes if n.status == "removed" and n.tokens}

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["nodes"] = [{k: v for k, v in asdict(n).items()} for n in self.nodes]
        data["removed_with_tokens"] = self.unmapped
        return data


def preview(db: Database, campaign_id: int, flow: Flow, mapping: Optional[dict[str, str]] = None,
            clock: Optional[Clock] = None) -> Impact:
    """The impact of publishing ``flow`` now, with ``mapping`` for removed nodes' tokens."""
    check_publishable(flow)
    at = (clock or SystemClock()).now()
    with bulk_objects(), db.session() as s:
        campaign = s.get(Campaign, campaign_id)
        if campaign is None:
            raise LookupError(f"there is no campaign {campaign_id} in this database")
        from engine.flow.fileformat import loads_flow

        mode = (campaign.settings or {}).get("mode")
        plan = make_plan(loads_flow(campaign.flow_json), flow, mapping, mode)
        impact = Impact(campaign_id, campaign.version, at)
        standing = dict(s.execute(select(Token.node, func.count()).where(
            Token.campaign_id == campaign_id, Token.state == "waiting").group_by(Token.node)).all())
        impact.in_flight = s.execute(select(func.count(func.distinct(Token.lead_id))).where(
            Token.campaign_id == campaign_id, Token.state == "waiting")).scalar() or 0
        # What publishing would do, from the rows it would touch (``load_for_plan``).
        touched = _batch(s, campaign, plan.new_spec, at, None)
        load_for_plan(s, touched, campaign_id, plan, whole=False)
        applied = apply_plan(touched, plan, at, walk=False)
        leads = _leads_to_play(s, campaign_id, plan)
        impact.leads_simulated = len(leads)
        before_sends: dict[int, set[str]] = {}
        after_sends: dict[int, set[str]] = {}
        reads_lead = plan.old_spec.reads_lead or plan.new_spec.reads_lead
        everyone = alike(s, campaign_id, leads, reads_lead) if leads else {}
        for part in chunks(everyone):
            kinds = {one: everyone[one] for one in part}
            impact.plays += len(kinds)
            before = _batch(s, campaign, plan.old_spec, at, set(kinds))
            after = _batch(s, campaign, plan.new_spec, at, set(kinds))
            apply_plan(after, plan, at)
            for batch, into in ((before, before_sends), (after, after_sends)):
                _play(batch, at)
                got: dict[int, set[str]] = defaultdict(set)
                for send in batch.sends.values():
                    if send.new and send.status != "cancelled":
                        got[send.lead_id].add(send.node)
                for one, members in kinds.items():
                    if got.get(one):
                        into.update(dict.fromkeys(members, got[one]))
        _fill(impact, plan, standing, applied, before_sends, after_sends)
        _name_leads(s, impact, before_sends, after_sends)
    return impact


def _leads_to_play(s: Session, campaign_id: int, plan: Plan) -> list[int]:
    """Leads whose emails the edit can change: a token on a node that reaches a
    removed, changed or rewired one. With no events, timing alone (a re-timed
    wait or window, a condition's longer or shorter window) changes when
    emails go, never which, and new words change neither: no play needed."""
    structural = set(plan.removed) | set(plan.changed) | set(plan.rewired)
    if not structural and not plan.flow_changed:
        return []
    nodes = [n.id for n in plan.old.nodes] if plan.flow_changed else sorted(_reaching(plan.old, structural))
    found: set[int] = set()
    for part in chunks(nodes, 500):
        found.update(s.execute(select(Token.lead_id).distinct().where(
            Token.campaign_id == campaign_id, Token.state == "waiting", Token.node.in_(part))).scalars())
    return sorted(found)


def _reaching(flow: Flow, targets: set[str]) -> set[str]:
    """Every node from which some node of ``targets`` can be reached (targets included)."""
    into: dict[str, list[str]] = defaultdict(list)
    for edge in flow.edges:
        into[edge.target].append(edge.source)
    seen, todo = set(targets), list(targets)
    while todo:
        for source in into.get(todo.pop(), ()):
            if source not in seen:
                seen.add(source)
                todo.append(source)
    return seen


def _batch(s: Session, campaign: Campaign, spec: CampaignSpec, at: int, leads: Optional[set[int]]) -> Batch:
    ctx = RunContext(campaign.id, spec, SimulatedClock(at), _PreviewIds(), delivery="simulated",  # type: ignore[arg-type]
                     checks_unsubscribes=True, instant_delivery=True)
    ctx.campaign_uid = campaign.uid
    batch = Batch(ctx, s, FOREVER)
    if leads is not None:
        batch.load(leads)
    return batch


def _play(batch: Batch, at: int) -> None:
    """Everything pending, from now on, with no events; queued emails go out now."""
    for wait in list(batch.waits.values()):
        if wait.state == "pending" and not wait.new:
            batch.schedule(max(wait.due_at, at), WAIT, wait.id, wait)
    seq = 0
    for token in list(batch.tokens.values()):
        send = batch.sends.get(token.last_send) if token.last_send is not None else None
        if (token.state == "waiting" and send is not None and send.node == token.node and not send.new
                and send.status in UNSENT + ("sending",) and send.status != "planned"):
            seq -= 1
            batch.schedule(at, EVENT, seq, EventState(seq, token.lead_id, "delivered", send.node, send.id, None, at))
    batch.play()


def _fill(impact: Impact, plan: Plan, standing: dict[str, int], applied: Applied,
          before: dict[int, set[str]], after: dict[int, set[str]]) -> None:
    ends: dict[str, list[int]] = defaultdict(list)
    for wait, _old in applied.retimed:
        ends[wait.node].append(wait.due_at)
    listeners = Counter(x.condition for x in applied.listeners)
    gained, lost = Counter(), Counter()
    for lead in set(before) | set(after):
        for node in after.get(lead, set()) - before.get(lead, set()):
            gained[node] += 1
        for node in before.get(lead, set()) - after.get(lead, set()):
            lost[node] += 1
    not_sent = Counter(x.node for x in applied.cancelled)
    types = {n.id: n.type for n in plan.old.nodes} | {n.id: n.type for n in plan.new.nodes}
    order = [n.id for n in plan.old.nodes] + [n.id for n in plan.new.nodes if n.id not in plan.old]
    for node in order:
        status = plan.status(node)
        row = NodeImpact(node, types[node], status, tokens=standing.get(node, 0),
                         retimed=len(ends.get(node, ())), listeners=listeners.get(node, 0),
                         stop_listening=applied.stopped_listening.get(node, 0),
                         gained=gained.get(node, 0), lost=lost.get(node, 0), not_sent=not_sent.get(node, 0))
        if ends.get(node):
            row.new_ends = (min(ends[node]), max(ends[node]))
        if status == "removed":
            row.goes_to = plan.target(node) or "finish"
        impact.nodes.append(row)


def _name_leads(s: Session, impact: Impact, before: dict[int, set[str]], after: dict[int, set[str]]) -> None:
    gaining = {lead: sorted(after.get(lead, set()) - before.get(lead, set())) for lead in after}
    losing = {lead: sorted(before.get(lead, set()) - after.get(lead, set())) for lead in before}
    gaining = {k: v for k, v in gaining.items() if v}
    losing = {k: v for k, v in losing.items() if v}
    impact.leads_gaining, impact.leads_losing = len(gaining), len(losing)
    shown = sorted(gaining)[:LISTED] + sorted(losing)[:LISTED]
    keys: dict[int, str] = {}
    for part in chunks(shown, 1000):
        keys.update(s.execute(select(Lead.id, Lead.key).where(Lead.id.in_(part))).all())
    impact.gained = {keys[k]: gaining[k] for k in sorted(gaining)[:LISTED]}
    impact.lost = {keys[k]: losing[k] for k in sorted(losing)[:LISTED]}

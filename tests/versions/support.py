"""Flows and a running campaign on a simulated clock, for the versions tests."""

from __future__ import annotations

import copy
from typing import Any

from engine.flow.fileformat import flow_from_data
from engine.run.clock import SimulatedClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.sim.simulate import SIM_START

H, D = 3_600_000, 86_400_000
T0 = SIM_START

FLOW_A: dict[str, Any] = {
    "format": "mailbranch.flow/1", "name": "Spring offer",
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "e1", "type": "email", "subject": "Our offer", "html": '<p><a href="https://shop.example/o">o</a></p>'},
        {"id": "c1", "type": "condition", "event": "open", "email": "e1"},
        {"id": "e2", "type": "email", "subject": "Thanks", "html": "<p>Coupon</p>"},
        {"id": "w1", "type": "wait", "duration": "3d"},
        {"id": "e3", "type": "email", "subject": "Did you miss it?", "html": "<p>Last chance</p>"},
        {"id": "end1", "type": "end"}, {"id": "end2", "type": "end"},
    ],
    "edges": [
        {"from": "start", "to": "e1"}, {"from": "e1", "to": "c1"},
        {"from": "c1", "port": "yes", "to": "e2"}, {"from": "e2", "to": "end1"},
        {"from": "c1", "port": "no", "to": "w1"}, {"from": "w1", "to": "e3"}, {"from": "e3", "to": "end2"},
    ],
}

#: start -> e1 -> w0 (1d) -> e2 -> end: a plain drip.
DRIP: dict[str, Any] = {
    "format": "mailbranch.flow/1", "name": "Drip",
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "e1", "type": "email", "subject": "Welcome", "html": "<p>Hello</p>"},
        {"id": "w0", "type": "wait", "duration": "1d"},
        {"id": "e2", "type": "email", "subject": "Tips", "html": "<p>Tips</p>"},
        {"id": "end", "type": "end"},
    ],
    "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "w0"}, {"from": "w0", "to": "e2"},
              {"from": "e2", "to": "end"}],
}


def edited(data: dict[str, Any], **durations: str) -> dict[str, Any]:
    """A copy of a flow with some waits' durations changed (``w1="1d"``)."""
    data = copy.deepcopy(data)
    for node in data["nodes"]:
        if node["id"] in durations:
            node["duration"] = durations[node["id"]]
    return data


def without_w0(wait: str = "2h") -> dict[str, Any]:
    """The drip with its wait w0 replaced by a new wait w9."""
    data = copy.deepcopy(DRIP)
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "w0"] + [{"id": "w9", "type": "wait", "duration": wait}]
    data["edges"] = [{"from": "start", "to": "e1"}, {"from": "e1", "to": "w9"}, {"from": "w9", "to": "e2"},
                     {"from": "e2", "to": "end"}]
    return data


def flow(data: dict[str, Any]):
    return flow_from_data(data)


def start(db, data: dict[str, Any], leads: int = 3, mode: str | None = None) -> CampaignEngine:
    engine = CampaignEngine.create(db, flow(data), SimulatedClock(T0), mode=mode)
    engine.enroll([LeadInput(f"lead{i}", f"lead{i}@example.com") for i in range(leads)])
    return engine


def sends(db, campaign_id: int) -> list[tuple[str, str, float]]:
    """(lead key, node, hours from the start) of every send, in order."""
    from sqlalchemy import select

    from engine.store.models import Lead, Send

    with db.session() as s:
        rows = s.execute(select(Lead.key, Send.node, Send.at).join(Lead, Lead.id == Send.lead_id)
                         .where(Send.campaign_id == campaign_id, Send.status == "sent")).all()
    return sorted((key, node, (at - T0) / H) for key, node, at in rows)

"""SEMANTICS section 7: every timeline, through the Python API and the CLI."""

import json
import subprocess
import sys

import pytest

from engine.flow import load_flow
from engine.run.engine import LeadInput
from engine.sim.simulate import simulate
from tests.conftest import FLOWS

H, D = 3600, 86400
OFFER = "https://shop.example/offer"

# (case, flow, mode, events [(at, type, email, url)], sends [(node, at)], complete_at)
CASES = [
    ("A1", "a", None, [], [("e1", 0), ("e3", 3 * D)], 3 * D),
    ("A2", "a", None, [(H, "open", "e1", None)], [("e1", 0), ("e2", H), ("e3", 3 * D)], 3 * D),
    ("A3", "a", "exclusive", [(H, "open", "e1", None)], [("e1", 0), ("e2", H)], H),
    ("A4", "a", None, [(4 * D, "open", "e1", None)], [("e1", 0), ("e3", 3 * D)], 3 * D),
    ("A5", "a", None, [(H, "open", "e1", None), (2 * H, "open", "e1", None)],
     [("e1", 0), ("e2", H), ("e3", 3 * D)], 3 * D),
    ("A6", "a", None, [(H, "click", "e1", OFFER)], [("e1", 0), ("e2", H), ("e3", 3 * D)], 3 * D),
    ("B1", "b", None, [(H, "open", "e1", None)], [("e1", 0), ("e2", D)], D),
    ("C1", "c", None, [(H, "open", "e1", None), (5 * H, "click", "e1", OFFER)],
     [("e1", 0), ("e2", 5 * H), ("e3", 3 * D)], 4 * D),
    ("C2", "c", None, [(3 * D + 2 * H, "click", "e1", OFFER)], [("e1", 0), ("e3", 3 * D)], 4 * D),
    ("C3", "c", None, [(3 * D + 2 * H, "click", "e3", OFFER)], [("e1", 0), ("e3", 3 * D)], 4 * D),
]


def events_for(lead, events):
    return [{"lead": lead, "at": at, "type": t, "email": e, "url": u} for at, t, e, u in events]


@pytest.mark.parametrize("case,flow,mode,events,sends,complete", CASES, ids=[c[0] for c in CASES])
def test_timeline_api(engine_db, case, flow, mode, events, sends, complete):
    result = simulate(load_flow(FLOWS / f"flow-{flow}.json"), [LeadInput("L")], events_for("L", events),
                      mode=mode, db=engine_db)
    assert result.sends_of("L") == sends
    assert result.complete_at == complete


@pytest.mark.parametrize("case,flow,mode,events,sends,complete", CASES, ids=[c[0] for c in CASES])
def test_timeline_cli(tmp_path, case, flow, mode, events, sends, complete):
    events_file = tmp_path / "events.jsonl"
    events_file.write_text("".join(json.dumps({k: v for k, v in e.items() if v is not None}) + "\n"
                                   for e in events_for("lead-1", events)))
    args = [sys.executable, "-m", "engine.cli", "simulate", str(FLOWS / f"flow-{flow}.json"),
            "--leads", "1", "--events", str(events_file), "--json"]
    if mode:
        args += ["--mode", mode]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [(s["node"], s["at"]) for s in data["sends"]] == sends
    assert all(s["lead"] == "lead-1" for s in data["sends"])
    assert data["complete_at"] == complete


def test_c1_tokens_in_detail(engine_db):
    """C1: the YES token at c2 goes down w2 and becomes tracked; the click makes a third token."""
    result = simulate(load_flow(FLOWS / "flow-c.json"), [LeadInput("L")],
                      events_for("L", CASES[7][3]), db=engine_db)
    tokens = {t["id"]: t for t in result.tokens}
    original = next(t for t in tokens.values() if t["parent"] is None)
    second = next(t for t in tokens.values() if t["parent"] == original["id"])
    third = next(t for t in tokens.values() if t["parent"] == second["id"])
    assert len(tokens) == 3
    assert (original["node"], original["finished_at"], original["tracked"]) == ("end4", 4 * D, True)
    assert (second["node"], second["finished_at"], second["tracked"]) == ("end2", H + 2 * D, True)
    assert (third["node"], third["finished_at"], third["tracked"]) == ("end1", 5 * H, False)
    assert [(e["type"], e["triggered"]) for e in result.events] == [("open", ["c1"]), ("click", ["c2"])]


def test_a4_late_event_recorded_but_inert():
    result = simulate(load_flow(FLOWS / "flow-a.json"), [LeadInput("L")],
                      events_for("L", [(4 * D, "open", "e1", None)]))
    assert result.events == [{"lead": "L", "type": "open", "email": "e1", "at": 4 * D, "triggered": []}]
    assert len(result.tokens) == 1


def test_event_at_the_instant_the_wait_ends_is_late():
    """The listening window is half-open: an open exactly at 3d triggers nothing."""
    result = simulate(load_flow(FLOWS / "flow-a.json"), [LeadInput("L")],
                      events_for("L", [(3 * D, "open", "e1", None)]))
    assert result.sends_of("L") == [("e1", 0), ("e3", 3 * D)]
    assert result.events[0]["triggered"] == []


def test_event_at_the_instant_of_a_send_belongs_to_it():
    """Flow C: a click on e3 at exactly 3d (when e3 is sent) counts for e3 and triggers c3."""
    result = simulate(load_flow(FLOWS / "flow-c.json"), [LeadInput("L")],
                      events_for("L", [(3 * D, "click", "e3", OFFER)]))
    assert result.events[0]["triggered"] == ["c3"]
    assert any(t["node"] == "end3" for t in result.tokens)


def test_many_leads_are_independent(engine_db):
    flow = load_flow(FLOWS / "flow-a.json")
    leads = [LeadInput(f"l{i}") for i in range(50)]
    events = events_for("l7", [(H, "open", "e1", None)])
    result = simulate(flow, leads, events, batch_size=7, db=engine_db)
    assert result.sends_of("l7") == [("e1", 0), ("e2", H), ("e3", 3 * D)]
    assert result.sends_of("l8") == [("e1", 0), ("e3", 3 * D)]
    assert len(result.sends) == 101
    assert result.complete_at == 3 * D

"""SEMANTICS 10, goal: a converted lead's tokens all finish at once, nothing
more is sent to it, and the conversion is recorded once."""

import json
import subprocess
import sys

from engine.flow import load_flow
from engine.flow.fileformat import dumps_flow
from engine.flow.validate import validate
from engine.run.engine import LeadInput
from engine.sim.simulate import SIM_START, simulate
from tests.conftest import FLOWS

H, D = 3600, 86400
OFFER = "https://shop.example/offer"


def flow_a(goal=OFFER):
    f = load_flow(FLOWS / "flow-a.json")
    if goal is not None:
        f.extra["goal"] = {"click": goal}
    return f


def run(f, events, db=None, leads=("L",)):
    return simulate(f, [LeadInput(k) for k in leads], [{"lead": "L", **e} for e in events], db=db, start=SIM_START)


def test_a_click_on_the_goal_url_converts_and_finishes_every_token(engine_db):
    # The click would have triggered c1 (a click counts as an open): as a conversion it triggers nothing.
    result = run(flow_a(), [{"at": H, "type": "click", "email": "e1", "url": OFFER + "?utm_source=x"}], engine_db)
    assert result.sends_of("L") == [("e1", 0)]  # no e2 (no trigger), no e3 (the NO wait was revoked)
    assert result.complete_at == H
    assert result.converted == [{"lead": "L", "at": H}]
    assert all(t["state"] == "finished" and t["finished_at"] == H for t in result.tokens)
    assert result.figures.converted == 1
    assert result.events[0]["triggered"] != [] and "c1" not in result.events[0]["triggered"]


def test_an_outside_conversion_finishes_a_lead_already_on_a_yes_path(engine_db):
    events = [{"at": H, "type": "open", "email": "e1"}, {"at": 2 * H, "type": "convert"},
              {"at": 3 * H, "type": "convert"}]
    result = run(flow_a(goal=None), events, engine_db, leads=("L", "M"))
    assert result.sends_of("L") == [("e1", 0), ("e2", H)]  # e3 at 3d never goes out
    assert result.converted == [{"lead": "L", "at": 2 * H}]  # once, at the first
    assert result.sends_of("M") == [("e1", 0), ("e3", 3 * D)]  # the other lead is untouched
    assert result.complete_at == 3 * D


def test_a_click_on_another_link_is_an_ordinary_click():
    f = flow_a(goal="https://shop.example/thanks")
    result = run(f, [{"at": H, "type": "click", "email": "e1", "url": OFFER}])
    assert result.sends_of("L") == [("e1", 0), ("e2", H), ("e3", 3 * D)] and result.converted == []


def test_a_conversion_stops_an_email_still_in_the_provider_queue():
    """With a send rate, a lead that converts while its email waits in the queue never gets it."""
    f = flow_a(goal=None)
    leads = [LeadInput(k) for k in ("a", "b", "c", "z")]
    before = simulate(f, leads, send_rate=1.0, start=SIM_START)
    assert before.sends_of("z")[0] == ("e1", 3)  # fourth in the queue at one a second
    result = simulate(f, leads, [{"lead": "z", "at": 1, "type": "convert"}], send_rate=1.0, start=SIM_START)
    assert result.sends_of("z") == []
    assert result.converted == [{"lead": "z", "at": 1}]
    assert result.complete_at == 2 + 3 * D  # the others' e3: nothing waits for z's email


def test_goal_settings_are_checked():
    errors = [(x.code, x.node) for x in validate(flow_a(goal="ftp://shop.example/x")) if x.severity == "error"]
    assert errors == [("bad-setting", None)]
    bad = flow_a(goal=None)
    bad.extra["goal"] = {"open": "e1"}
    assert [x.code for x in validate(bad)] == ["bad-setting"]
    assert validate(flow_a()) == []


def test_a_conversion_in_a_simulation_events_file(tmp_path):
    path = tmp_path / "flow.json"
    path.write_text(dumps_flow(flow_a()))
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"at": "5h", "lead": "lead-1", "type": "convert"}) + "\n")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "simulate", str(path), "--leads", "2",
                           "--events", str(events), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["converted"] == [{"lead": "lead-1", "at": 5 * H}]
    assert [(s["lead"], s["node"]) for s in data["sends"]] == [("lead-1", "e1"), ("lead-2", "e1"), ("lead-2", "e3")]
    assert data["complete_at"] == 3 * D

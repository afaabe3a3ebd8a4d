"""What reports show of a flow with a split, a check and a window (issue 14;
SEMANTICS 5 and 10): each branch's leads and the opens and clicks of the
emails below it, human and machine apart, conversions, and a lead a window
holds with the opening on its own clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

from engine.control.views import lead_page, timeline
from engine.flow import load_flow
from engine.nodes.registry import node_type
from engine.nodes.split import choose
from engine.run.engine import LeadInput
from engine.sim.simulate import SIM_START, simulate
from engine.store.database import Database
from tests.conftest import FLOWS

H = 3600
BUY = "https://shop.example/buy"
#: SIM_START is Thursday 2026-01-01 00:00 UTC: 01:00 in Paris, so the window (09:00-17:00) is shut.
PARIS_OPENS = SIM_START + 8 * H * 1000
NEW_YORK_OPENS = SIM_START + 14 * H * 1000


def mixed_flow():
    """check (plan is pro?) -> a window for pros -> an A/B split -> one email per branch ->
    a condition on the open; the goal is a click on the thank-you email's link (as the engine bench runs it)."""
    return load_flow(FLOWS / "variants.json")


def leads():
    """20 leads; the odd ones are pros, some of them in New York, one with a zone that does not exist."""
    zones = {1: "America/New_York", 3: "America/New_York", 5: "Mars/Olympus"}
    return [LeadInput(f"L{i:02d}", f"l{i}@example.com",
                      {"plan": "pro" if i % 2 else "free", **({"tz": zones[i]} if i in zones else {})})
            for i in range(1, 21)]


def branches(flow):
    node = flow.node("s1")
    spec = node_type("split").compile(node, flow, {})
    return {x.key: choose(spec.salt, x.key, spec.ports, spec.bounds) for x in leads()}


def events(flow):
    """Three human opens of A, a machine open of B, and one lead clicking the goal link."""
    branch = branches(flow)
    a_leads = sorted(k for k, b in branch.items() if b == "a")
    b_leads = sorted(k for k, b in branch.items() if b == "b")
    found = [{"lead": k, "type": "open", "email": "ea", "at": 15 * H} for k in a_leads[:3]]
    found.append({"lead": b_leads[0], "type": "open", "email": "eb", "at": 15 * H, "machine": True})
    found.append({"lead": a_leads[0], "type": "click", "email": "e2", "url": BUY, "at": 16 * H})
    return found


def test_each_branch_shows_its_leads_and_the_opens_of_its_own_emails(engine_db):
    flow = mixed_flow()
    result = simulate(flow, leads(), events(flow), db=engine_db, start=SIM_START)
    figures = result.figures
    per_branch = Counter(branches(flow).values())
    assert figures.nodes["s1"].ports == {"a": per_branch["a"], "b": per_branch["b"]}
    assert sum(figures.nodes["s1"].ports.values()) == 20
    assert figures.nodes["ch"].ports == {"yes": 10, "no": 10}
    a, b = figures.nodes["s1"].extra["branches"]["a"], figures.nodes["s1"].extra["branches"]["b"]
    assert a["leads"] == a["sent"] == per_branch["a"] and a["emails"] == ["ea"]
    assert a["opened"] == 3 and a["open_rate"] == 3 / per_branch["a"]
    # The privacy proxy's open is the machine's: B shows no open, the email shows it apart.
    assert b["emails"] == ["eb"] and b["opened"] == 0 and b["open_rate"] == 0
    assert figures.nodes["eb"].machine_opened == 1 and figures.machine_events == 1
    assert figures.converted == 1
    shown = figures.as_json()
    assert shown["converted"] == 1 and shown["machine_events"] == 1
    assert shown["nodes"]["s1"]["branches"]["a"]["opened"] == 3
    assert shown["nodes"]["s1"]["ports"] == figures.nodes["s1"].ports


def test_a_lead_held_by_a_window_shows_the_opening_on_its_own_clock(engine_db):
    flow = mixed_flow()
    result = simulate(flow, leads(), [], db=engine_db, start=SIM_START, until=H)
    with engine_db.session() as s:
        page = {x.key: x for x in lead_page(s, result.campaign_id).leads}
        ny, paris, nowhere, free = (page[k].tokens[0] for k in ("L01", "L07", "L05", "L02"))
        assert ny.state == "waiting" and ny.node == "win"
        assert (ny.window.opens_at, ny.window.opens_local, ny.window.zone) == (
            NEW_YORK_OPENS, "Thu 09:00", "America/New_York")
        assert ny.window.text == "opens Thu 09:00 local"
        assert (paris.window.opens_at, paris.window.opens_local, paris.window.zone) == (
            PARIS_OPENS, "Thu 09:00", "Europe/Paris")
        # A zone that does not exist: the flow's zone.
        assert nowhere.window.zone == "Europe/Paris" and nowhere.window.opens_at == PARIS_OPENS
        # A free lead went past the window to its email: nothing holds it.
        assert free.window is None
        row = page["L01"].as_json()["tokens"][0]
        assert row["window"] == {"node": "win", "opens_at": NEW_YORK_OPENS, "opens_local": "Thu 09:00",
                                 "zone": "America/New_York", "text": "opens Thu 09:00 local"}
        lead = timeline(s, result.campaign_id, "L01", start_node="start").as_json()
        assert lead["tokens"][0]["window"]["opens_local"] == "Thu 09:00"
        assert [(w["node"], w["state"], w["window"]["opens_local"]) for w in lead["waits"]] == [
            ("win", "pending", "Thu 09:00")]


def test_a_converted_lead_reads_as_converted_in_its_row_and_timeline(engine_db):
    flow = mixed_flow()
    found = events(flow)
    converter = found[-1]["lead"]
    result = simulate(flow, leads(), found, db=engine_db, start=SIM_START)
    with engine_db.session() as s:
        page = {x.key: x for x in lead_page(s, result.campaign_id).leads}
        assert page[converter].converted_at == SIM_START + 16 * H * 1000
        assert sum(1 for x in page.values() if x.converted_at is not None) == 1
        lead = timeline(s, result.campaign_id, converter)
        assert lead.converted_at == SIM_START + 16 * H * 1000
        # The window it waited in opened for it: the fired wait still names the opening.
        assert [(w.state, w.window.opens_local) for w in lead.waits if w.node == "win"] == [("fired", "Thu 09:00")]


def test_status_prints_each_port_and_the_conversions(tmp_path):
    flow = mixed_flow()
    db = Database(tmp_path / "run.db")
    simulate(flow, leads(), events(flow), db=db, start=SIM_START)
    db.dispose()
    per_branch = Counter(branches(flow).values())
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "status", "--db", str(tmp_path / "run.db")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert f"A {per_branch['a']} · B {per_branch['b']}" in proc.stdout
    assert "YES 10 · NO 10" in proc.stdout
    assert "Converted: 1 of 20 leads." in proc.stdout
    assert "1 open " in proc.stdout  # the machine's open of B, in its own column
    shown = subprocess.run([sys.executable, "-m", "engine.cli", "status", "--db", str(tmp_path / "run.db"),
                            "--json"], capture_output=True, text=True, timeout=120)
    campaign = json.loads(shown.stdout)["campaigns"][0]
    assert campaign["converted"] == 1 and campaign["nodes"]["s1"]["branches"]["b"]["leads"] == per_branch["b"]

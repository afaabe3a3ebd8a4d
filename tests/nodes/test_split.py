"""SEMANTICS 10, split: weighted, at once, the same branch for the same lead every time."""

import json
import subprocess
import sys
from collections import Counter

from engine.flow.validate import validate
from engine.run.engine import LeadInput
from engine.sim.simulate import SIM_START, simulate
from tests.flows import edge, email, flow

D = 86400


def split_flow(weights=(1, 3), name="ab test", branches=None):
    branches = branches or [{"port": p, "weight": w} for p, w in zip("ab", weights, strict=True)]
    nodes = [{"id": "start", "type": "start"}, {"id": "s1", "type": "split", "branches": branches},
             email("ea"), email("eb"), {"id": "end1", "type": "end"}, {"id": "end2", "type": "end"}]
    edges = [edge("start", "s1"), edge("s1", "ea", "a"), edge("s1", "eb", "b"), edge("ea", "end1"),
             edge("eb", "end2")]
    return flow(nodes, edges, name)


def branch_of(result):
    return {s["lead"]: s["node"] for s in result.sends}


def test_leads_split_by_weight_and_each_gets_exactly_one_branch(engine_db):
    leads = [LeadInput(f"lead-{i}") for i in range(2000)]
    result = simulate(split_flow((1, 3)), leads, db=engine_db, start=SIM_START)
    taken = Counter(branch_of(result).values())
    assert sum(taken.values()) == 2000 and len(result.sends) == 2000
    assert 400 <= taken["ea"] <= 600  # 1/4 of 2000 is 500
    assert result.complete_at == 0  # nothing waits: the split moves tokens on at once
    figures = result.figures.nodes["s1"]
    assert figures.ports == {"a": taken["ea"], "b": taken["eb"]}
    branches = figures.extra["branches"]
    assert branches["a"]["leads"] == taken["ea"] and branches["a"]["emails"] == ["ea"]
    assert branches["b"]["sent"] == taken["eb"]


def test_the_same_lead_takes_the_same_branch_in_every_run_and_after_a_restart(tmp_path):
    leads = [LeadInput(f"lead-{i}") for i in range(300)]
    first = branch_of(simulate(split_flow(), leads, start=SIM_START))
    second = branch_of(simulate(split_flow(), list(reversed(leads)), start=SIM_START + 5 * D))
    assert first == second
    # A restart: the campaign is played in two processes' worth of passes on one database.
    from engine.run.clock import SimulatedClock
    from engine.run.engine import CampaignEngine
    from engine.store.database import Database

    db = Database(str(tmp_path / "c.sqlite"))
    db.migrate()
    engine = CampaignEngine.create(db, split_flow(), SimulatedClock(SIM_START))
    engine.enroll(leads[:150])
    engine.run_to_end()
    again = CampaignEngine(Database(str(tmp_path / "c.sqlite")), engine.campaign_id, SimulatedClock(SIM_START + 1))
    again.enroll(leads[150:])
    again.run_to_end()
    from engine.sim.simulate import read_result
    assert branch_of(read_result(db, engine.campaign_id, SIM_START)) == first


def test_the_choice_depends_on_the_flow_name_and_node_so_two_tests_are_independent():
    leads = [LeadInput(f"lead-{i}") for i in range(400)]
    one = branch_of(simulate(split_flow(name="spring"), leads, start=SIM_START))
    other = branch_of(simulate(split_flow(name="autumn"), leads, start=SIM_START))
    differ = sum(one[k] != other[k] for k in one)
    assert 100 <= differ <= 300  # independent coin flips: about half differ


def test_a_split_keeps_the_tracked_flag():
    """Below a YES path the split's branch tokens are untracked: a wait there
    does not hold the campaign open; on the main path it does."""
    nodes = [{"id": "start", "type": "start"}, email("e1"),
             {"id": "c1", "type": "condition", "event": "open"},
             {"id": "s1", "type": "split", "branches": [{"port": "a", "weight": 1}, {"port": "b", "weight": 1}]},
             {"id": "wa", "type": "wait", "duration": "5d"}, {"id": "wb", "type": "wait", "duration": "5d"},
             {"id": "w1", "type": "wait", "duration": "1d"}, {"id": "end1", "type": "end"},
             {"id": "end2", "type": "end"}, {"id": "end3", "type": "end"}]
    edges = [edge("start", "e1"), edge("e1", "c1"), edge("c1", "s1", "yes"), edge("s1", "wa", "a"),
             edge("s1", "wb", "b"), edge("wa", "end1"), edge("wb", "end2"), edge("c1", "w1", "no"),
             edge("w1", "end3")]
    f = flow(nodes, edges)
    assert {x.code for x in validate(f)} == {"wait-on-yes-path"}
    result = simulate(f, [LeadInput("L")], [{"lead": "L", "at": 3600, "type": "open", "email": "e1"}],
                      start=SIM_START)
    assert result.complete_at == D  # the NO wait, not the 5-day wait under the YES path


def test_split_settings_are_checked():
    def codes(branches):
        return [(x.code, x.node) for x in validate(split_flow(branches=branches)) if x.severity == "error"]

    assert codes([{"port": "a", "weight": 1}]) .count(("bad-setting", "s1")) == 1
    six = [{"port": p, "weight": 1} for p in "abcdef"]
    assert ("bad-setting", "s1") in codes(six)
    assert ("bad-setting", "s1") in codes([{"port": "a", "weight": 0}, {"port": "b", "weight": 1}])
    assert ("bad-setting", "s1") in codes([{"port": "a", "weight": 1.5}, {"port": "b", "weight": 1}])
    assert ("bad-setting", "s1") in codes([{"port": "a", "weight": True}, {"port": "b", "weight": 1}])
    assert ("bad-setting", "s1") in codes([{"port": "a", "weight": 1}, {"port": "a", "weight": 1}])
    assert ("bad-setting", "s1") in codes([{"port": "A", "weight": 1}, {"port": "b", "weight": 1}])
    assert codes([{"port": "a", "weight": 2}, {"port": "b", "weight": 3}]) == []


def test_a_branch_without_an_edge_is_a_dead_end():
    f = split_flow(branches=[{"port": "a", "weight": 1}, {"port": "b", "weight": 1}, {"port": "c", "weight": 1}])
    dead = [x for x in validate(f) if x.code == "dead-end"]
    assert [(x.node, "C" in x.message) for x in dead] == [("s1", True)]


def test_split_through_the_cli(tmp_path):
    path = tmp_path / "flow.json"
    from engine.flow.fileformat import dumps_flow
    path.write_text(dumps_flow(split_flow((1, 1))))
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "simulate", str(path), "--leads", "200", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    nodes = Counter(s["node"] for s in data["sends"])
    assert nodes["ea"] + nodes["eb"] == 200 and 60 <= nodes["ea"] <= 140
    table = subprocess.run([sys.executable, "-m", "engine.cli", "simulate", str(path), "--leads", "200"],
                           capture_output=True, text=True, timeout=120)
    assert f"A {nodes['ea']} · B {nodes['eb']}" in table.stdout

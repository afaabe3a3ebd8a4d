"""The run overlay's badges: each step shows the figures its type declares
(``NodeType.figures``), and a step with several outputs counts each one
("A 512 · B 488"), whatever the type is called."""

from __future__ import annotations

from app.run_overlay import node_lines, visited_nodes
from engine.flow.fileformat import flow_from_data
from engine.nodes.base import NodeType, Port, Role
from engine.nodes.registry import node_type

FLOW = flow_from_data({
    "format": "mailbranch.flow/1", "name": "Badges",
    "nodes": [{"id": "start", "type": "start"},
              {"id": "ch", "type": "check", "field": "plan", "op": "equals", "value": "pro"},
              {"id": "win", "type": "window", "days": ["mon"], "from": "09:00", "to": "17:00"},
              {"id": "s1", "type": "split", "branches": [{"port": "a", "weight": 1}, {"port": "b", "weight": 1},
                                                         {"port": "control", "weight": 2}]},
              {"id": "ea", "type": "email", "subject": "A", "html": "<p>a</p>"},
              {"id": "eb", "type": "email", "subject": "B", "html": "<p>b</p>"},
              {"id": "end", "type": "end"}],
    "edges": [{"from": "start", "to": "ch"}, {"from": "ch", "port": "yes", "to": "win"},
              {"from": "ch", "port": "no", "to": "s1"}, {"from": "win", "to": "s1"},
              {"from": "s1", "port": "a", "to": "ea"}, {"from": "s1", "port": "b", "to": "eb"},
              {"from": "s1", "port": "control", "to": "end"},
              {"from": "ea", "to": "end"}, {"from": "eb", "to": "end"}]})


def lines(node_id, **figures):
    node = FLOW.node(node_id)
    return node_lines(node_type(node.type), node, figures)


def test_a_split_counts_each_branch_by_its_name():
    assert lines("s1", passed=1000, ports={"a": 251, "b": 249, "control": 500}) == ["A 251 · B 249 · CONTROL 500"]


def test_a_check_counts_yes_and_no_and_a_window_its_waiting_leads():
    assert lines("ch", passed=10, ports={"yes": 3, "no": 7}, yes=3, no=7) == ["YES 3 · NO 7"]
    assert lines("win", waiting=12, passed=30) == ["12 waiting here", "30 passed"]


def test_an_email_shows_machine_opens_apart_and_the_start_counts_entries():
    email = lines("ea", sent=20, opened=5, clicked=2, open_rate=0.25, click_rate=0.1, machine_opened=7,
                  machine_clicked=1)
    assert email == ["20 sent", "5 opened (25%)", "2 clicked (10%)", "machine: 7 opens · 1 click"]
    assert lines("start", passed=20) == ["20 entered"]
    assert lines("end", finished=18, failed=2) == ["18 finished", "2 failed"]


def test_a_new_type_is_drawn_from_its_descriptor_alone():
    class Lottery(NodeType):
        name = "lottery"
        fixed_ports = (Port("won", Role.BRANCH, "WON"), Port("lost", Role.BRANCH, "LOST"))
        figures = ("passed", "waiting")

    assert node_lines(Lottery(), None, {"ports": {"won": 1, "lost": 9}, "waiting": 2}) == [
        "WON 1 · LOST 9", "2 waiting here"]


def test_the_steps_a_lead_took_include_the_split_and_check_it_passed():
    timeline = {"sends": [{"node": "ea"}], "waits": [{"node": "win"}],
                "tokens": [{"node": "end", "path": {"ea": 1}}], "events": []}
    assert visited_nodes(FLOW, timeline) == {"start", "ch", "win", "s1", "ea", "end"}

"""SEMANTICS 10, check: YES or NO at once on a lead field; its NO path needs no wait."""

import json
import subprocess
import sys

import pytest

from engine.flow.fileformat import dumps_flow
from engine.flow.validate import validate
from engine.nodes.check import test as field_test
from engine.run.engine import LeadInput
from engine.sim.simulate import SIM_START, simulate
from tests.flows import edge, email, flow


def check_flow(op, value=None, field="country", yes_first=None):
    check = {"id": "k1", "type": "check", "field": field, "op": op}
    if value is not None:
        check["value"] = value
    nodes = [{"id": "start", "type": "start"}, check, email("ey"), email("en"),
             {"id": "end1", "type": "end"}, {"id": "end2", "type": "end"}]
    edges = [edge("start", "k1"), edge("k1", "ey", "yes"), edge("k1", "en", "no"), edge("ey", "end1"),
             edge("en", "end2")]
    return flow(nodes, edges)


@pytest.mark.parametrize("op,field,value,expected", [
    ("equals", " fr ", "FR", True), ("equals", "BE", "FR", False), ("equals", None, "FR", False),
    ("equals", "", "", False), ("equals", "5", 5, True),
    ("not-equals", "BE", "FR", True), ("not-equals", " Fr", "FR", False), ("not-equals", None, "FR", True),
    ("not-equals", "  ", "FR", True),
    ("contains", "Bakery Bloom", "bloom", True), ("contains", "Bakery", "bloom", False),
    ("contains", None, "x", False),
    ("exists", "x", None, True), ("exists", " ", None, False), ("exists", None, None, False),
    ("missing", None, None, True), ("missing", "", None, True), ("missing", "x", None, False),
    ("greater", "10", 9, True), ("greater", "9", "10", False), ("greater", "abc", 1, False),
    ("greater", None, 1, False), ("greater", "2.5", "2", True), ("greater", "10", "abc", False),
    ("less", " 3 ", "4", True), ("less", "4", 4, False), ("less", "", 4, False),
    ("in", "be", ["FR", "BE"], True), ("in", "de", ["FR", "BE"], False), ("in", None, ["FR"], False),
    ("in", "1", [1, 2], True),
])
def test_comparisons(op, field, value, expected):
    assert field_test(op, field, value) is expected


def run(f, leads, db=None):
    result = simulate(f, leads, db=db, start=SIM_START)
    return {s["lead"]: s["node"] for s in result.sends}, result


def test_leads_go_yes_or_no_at_once_by_their_fields(engine_db):
    leads = [LeadInput("a", "a@x.example", {"country": "FR"}), LeadInput("b", "b@x.example", {"country": "be"}),
             LeadInput("c", "c@x.example", {}), LeadInput("d", "d@x.example", {"country": "  "})]
    sent, result = run(check_flow("in", ["fr", "BE"]), leads, engine_db)
    assert sent == {"a": "ey", "b": "ey", "c": "en", "d": "en"}
    assert result.complete_at == 0
    assert result.figures.nodes["k1"].ports == {"yes": 2, "no": 2}
    sent, _ = run(check_flow("not-equals", "FR"), leads)
    assert sent == {"a": "en", "b": "ey", "c": "ey", "d": "ey"}


def test_the_email_field_can_be_checked():
    sent, _ = run(check_flow("contains", "@vip.example", field="email"),
                  [LeadInput("a", "ana@vip.example"), LeadInput("b", "bo@x.example")])
    assert sent == {"a": "ey", "b": "en"}


def test_a_check_keeps_the_tracked_flag_and_needs_no_wait_on_no():
    f = check_flow("exists")
    assert [x for x in validate(f) if x.severity == "error"] == []


def test_check_settings_are_checked():
    def errors(f):
        return [(x.code, x.node) for x in validate(f) if x.severity == "error"]

    assert ("bad-setting", "k1") in errors(check_flow("equals", "x", field=""))
    assert ("bad-setting", "k1") in errors(check_flow("bigger", "x"))
    assert ("bad-setting", "k1") in errors(check_flow("in", "FR"))
    assert ("bad-setting", "k1") in errors(check_flow("equals", ["FR"]))
    assert ("bad-setting", "k1") in errors(check_flow("greater"))
    assert errors(check_flow("missing")) == []
    assert errors(check_flow("greater", 10)) == []
    f = check_flow("equals", "FR")
    f.remove_edge(f.edge_on("k1", "no"))
    assert ("dead-end", "k1") in errors(f)


def test_check_through_the_cli_with_a_lead_csv(tmp_path):
    """A lead CSV's extra columns are lead fields (SEMANTICS 10)."""
    path = tmp_path / "flow.json"
    path.write_text(dumps_flow(check_flow("greater", 100, field="orders")))
    leads = tmp_path / "leads.csv"
    leads.write_text("email,first_name,orders\nana@x.example,Ana,150\nbo@x.example,Bo,20\ncy@x.example,Cy,\n")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "simulate", str(path), "--leads", str(leads),
                           "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    sends = {s["lead"]: s["node"] for s in json.loads(proc.stdout)["sends"]}
    assert sorted(sends.values()) == ["en", "en", "ey"]
    assert [k for k, v in sends.items() if v == "ey"][0].startswith("ana")

"""Validation: every code of SEMANTICS section 2, raised and not raised (issue 3, part 2).

Each case is a small flow that raises the code and a near-identical one that
does not. Flows are written as dict literals, the way a user writes a file.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import pytest

from engine.flow import loads_flow, validate
from engine.flow.validate import Finding, has_errors
from tests.flows import SEMANTICS_EXAMPLE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LINK = "https://shop.example/offer"

# SEMANTICS flow A: start -> e1 -> c1(open e1); yes -> e2 -> end1; no -> w1(3d) -> e3 -> end2.
BASE: dict = {**copy.deepcopy(SEMANTICS_EXAMPLE), "name": "Flow A"}

# Flow with a join: c1 yes -> e2 -> c2, c1 no -> w1 -> e3 -> c2; c2 watches an email.
JOIN: dict = {
    "format": "mailbranch.flow/1",
    "name": "Join",
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "e1", "type": "email", "subject": "One", "html": f"<a href=\"{LINK}\">x</a>"},
        {"id": "c1", "type": "condition", "event": "open"},
        {"id": "e2", "type": "email", "subject": "Two", "html": "<p>two</p>"},
        {"id": "w1", "type": "wait", "duration": "1d"},
        {"id": "e3", "type": "email", "subject": "Three", "html": "<p>three</p>"},
        {"id": "c2", "type": "condition", "event": "open", "email": "e1"},
        {"id": "w2", "type": "wait", "duration": "2d"},
        {"id": "end1", "type": "end"},
        {"id": "end2", "type": "end"},
    ],
    "edges": [
        {"from": "start", "to": "e1"},
        {"from": "e1", "to": "c1"},
        {"from": "c1", "port": "yes", "to": "e2"},
        {"from": "c1", "port": "no", "to": "w1"},
        {"from": "w1", "to": "e3"},
        {"from": "e2", "to": "c2"},
        {"from": "e3", "to": "c2"},
        {"from": "c2", "port": "yes", "to": "end1"},
        {"from": "c2", "port": "no", "to": "w2"},
        {"from": "w2", "to": "end2"},
    ],
}


def changed(base: dict, *changes: Callable[[dict], None]) -> dict:
    data = copy.deepcopy(base)
    for change in changes:
        change(data)
    return data


def node(node_id: str, **settings) -> Callable[[dict], None]:
    """Set (or with None, remove) settings of one node."""
    def change(data: dict) -> None:
        target = next(n for n in data["nodes"] if n["id"] == node_id)
        for key, value in settings.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    return change


def add_node(**fields) -> Callable[[dict], None]:
    return lambda data: data["nodes"].append(fields)


def drop_node(node_id: str) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        data["nodes"] = [n for n in data["nodes"] if n["id"] != node_id]
        data["edges"] = [e for e in data["edges"] if node_id not in (e["from"], e["to"])]
    return change


def add_edge(source: str, target: str, port: Optional[str] = None) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        edge = {"from": source, "to": target}
        if port:
            edge["port"] = port
        data["edges"].append(edge)
    return change


def drop_edge(source: str, port: str = "next") -> Callable[[dict], None]:
    def change(data: dict) -> None:
        data["edges"] = [e for e in data["edges"]
                         if not (e["from"] == source and e.get("port", "next") == port)]
    return change


def retarget(source: str, target: str, port: str = "next") -> Callable[[dict], None]:
    def change(data: dict) -> None:
        for e in data["edges"]:
            if e["from"] == source and e.get("port", "next") == port:
                e["to"] = target
    return change


def findings_of(data: dict) -> list[Finding]:
    return validate(loads_flow(json.dumps(data)))


def describe(findings: list[Finding]) -> str:
    return "\n".join(f"{f.severity} {f.code} {f.node} {f.edge}: {f.message}" for f in findings)


def test_base_flows_are_clean():
    assert findings_of(BASE) == []
    assert findings_of(JOIN) == []


# (id, bad flow, good flow, code, severity, node, edge, words the message must hold)
CASES = [
    ("no-start", changed(BASE, drop_node("start")), BASE, "no-start", "error", None, None, ["Start"]),
    ("many-starts", changed(BASE, add_node(id="start2", type="start"), add_edge("start2", "e1")), BASE,
     "many-starts", "error", "start2", None, ["start2"]),
    ("missing-no-path", changed(BASE, drop_edge("c1", "no"), drop_node("w1"), drop_node("e3"),
                                drop_node("end2")),
     changed(BASE, retarget("w1", "end2"), drop_node("e3")), "missing-no-path", "error", "c1", None, ["c1"]),
    ("missing-yes-path", changed(BASE, drop_edge("c1", "yes"), drop_node("e2"), drop_node("end1")),
     changed(BASE, retarget("c1", "end1", "yes"), drop_node("e2")),
     "missing-yes-path", "error", "c1", None, ["c1"]),
    ("no-path-must-start-with-wait", changed(BASE, retarget("c1", "e3", "no"), drop_node("w1")), BASE,
     "no-path-must-start-with-wait", "error", "c1", ("c1", "no", "e3"), ["c1", "e3"]),
    ("dead-end-email", changed(BASE, drop_edge("e3")), BASE, "dead-end", "error", "e3", None, ["e3"]),
    ("dead-end-wait", changed(BASE, drop_edge("w1")), BASE, "dead-end", "error", "w1", None, ["w1"]),
    ("dead-end-start", changed(BASE, drop_edge("start")), BASE, "dead-end", "error", "start", None,
     ["start"]),
    ("no-email-before-condition-path", changed(
        BASE, add_node(id="w0", type="wait", duration="1h"), retarget("start", "w0"), add_edge("w0", "c1"),
        node("c1", email=None), drop_edge("e1"), drop_node("e1")),
     changed(BASE, add_node(id="w0", type="wait", duration="1h"), retarget("start", "w0"),
             add_edge("w0", "e1"), node("c1", email=None)),
     "no-email-before-condition", "error", "c1", None, ["c1"]),
    ("no-email-before-condition-named", changed(JOIN, node("c2", email="e2")), JOIN,
     "no-email-before-condition", "error", "c2", None, ["c2", "e2"]),
    ("no-email-before-condition-named-other-side", changed(JOIN, node("c2", email="e3")), JOIN,
     "no-email-before-condition", "error", "c2", None, ["c2", "e3"]),
    ("click-without-links", changed(BASE, node("c1", event="click"), node("e1", html="<p>No links</p>")),
     changed(BASE, node("c1", event="click")), "click-without-links", "error", "c1", None, ["c1", "e1"]),
    ("click-without-links-nearest", changed(JOIN, node("c2", event="click", email=None)),
     changed(JOIN, node("c2", event="click", email=None), node("e2", html=f"<a href=\"{LINK}\">a</a>"),
             node("e3", html=f"<a href=\"{LINK}\">b</a>")),
     "click-without-links", "error", "c2", None, ["c2"]),
    ("click-without-links-url", changed(BASE, node("c1", event="click", url="https://other.example/")),
     changed(BASE, node("c1", event="click", url=LINK)), "click-without-links", "error", "c1", None,
     ["c1", "https://other.example/", "e1"]),
    ("bad-setting-no-subject", changed(BASE, node("e2", subject=None)), BASE, "bad-setting", "error", "e2",
     None, ["e2", "subject"]),
    ("bad-setting-blank-subject", changed(BASE, node("e2", subject="   ")), BASE, "bad-setting", "error",
     "e2", None, ["e2", "subject"]),
    ("bad-setting-no-body", changed(BASE, node("e3", html=None)), BASE, "bad-setting", "error", "e3", None,
     ["e3", "body"]),
    ("bad-setting-wait-zero", changed(BASE, node("w1", duration="0s")), BASE, "bad-setting", "error", "w1",
     None, ["w1"]),
    ("bad-setting-wait-negative", changed(BASE, node("w1", duration=-60)), BASE, "bad-setting", "error",
     "w1", None, ["w1"]),
    ("bad-setting-wait-missing", changed(BASE, node("w1", duration=None)), BASE, "bad-setting", "error",
     "w1", None, ["w1", "duration"]),
    ("bad-setting-malformed-duration", changed(BASE, node("w1", duration="3 days")), BASE, "bad-setting",
     "error", "w1", None, ["w1", "3 days"]),
    ("bad-setting-unknown-event", changed(BASE, node("c1", event="reply")), BASE, "bad-setting", "error",
     "c1", None, ["c1", "reply"]),
    ("bad-setting-no-event", changed(BASE, node("c1", event=None)), BASE, "bad-setting", "error", "c1", None,
     ["c1"]),
    ("bad-setting-unknown-mode", changed(BASE, node("c1", mode="sometimes")), changed(
        BASE, node("c1", mode="exclusive")), "bad-setting", "error", "c1", None, ["c1", "sometimes"]),
    ("bad-setting-broken-subject-template", changed(BASE, node("e1", subject="Hi {{ first_name ")), BASE,
     "bad-setting", "error", "e1", None, ["e1", "subject"]),
    ("bad-setting-broken-body-template", changed(BASE, node("e2", html="<p>{% if vip %}Hi</p>")), BASE,
     "bad-setting", "error", "e2", None, ["e2", "body"]),
    ("bad-setting-watches-non-email", changed(BASE, node("c1", email="w1")), BASE, "bad-setting", "error",
     "c1", None, ["c1", "w1"]),
    ("bad-edge-unknown-source", changed(BASE, add_edge("ghost", "end1")), BASE, "bad-edge", "error", None,
     ("ghost", "next", "end1"), ["ghost"]),
    ("bad-edge-unknown-target", changed(BASE, retarget("e2", "ghost")), BASE, "bad-edge", "error", "e2",
     ("e2", "next", "ghost"), ["e2", "ghost"]),
    ("bad-edge-unknown-port", changed(BASE, add_edge("e2", "end2", "maybe")), BASE, "bad-edge", "error",
     "e2", ("e2", "maybe", "end2"), ["e2", "maybe"]),
    ("bad-edge-port-of-end", changed(BASE, add_edge("end1", "end2")), BASE, "bad-edge", "error", "end1",
     ("end1", "next", "end2"), ["end1"]),
    ("bad-edge-into-start", changed(BASE, add_edge("e3", "start")), BASE, "bad-edge", "error", "e3",
     ("e3", "next", "start"), ["e3", "Start"]),
    ("bad-edge-second-on-port", changed(BASE, add_edge("e2", "end2")), BASE, "bad-edge", "error", "e2",
     ("e2", "next", "end2"), ["e2"]),
    ("bad-edge-second-yes", changed(BASE, add_edge("c1", "end2", "yes")), BASE, "bad-edge", "error", "c1",
     ("c1", "yes", "end2"), ["c1", "YES"]),
    ("unreachable", changed(BASE, add_node(id="e9", type="email", subject="Lost", html="<p>x</p>"),
                            add_edge("e9", "end2")),
     changed(BASE, add_node(id="e9", type="email", subject="Lost", html="<p>x</p>"), retarget("e3", "e9"),
             add_edge("e9", "end2")),
     "unreachable", "warning", "e9", None, ["e9"]),
    ("wait-on-yes-path", changed(BASE, add_node(id="wy", type="wait", duration="1d"), retarget("c1", "wy", "yes"),
                                 add_edge("wy", "e2")),
     changed(BASE, add_node(id="wy", type="wait", duration="1d"), retarget("w1", "wy"), add_edge("wy", "e3")),
     "wait-on-yes-path", "warning", "wy", None, ["wy"]),
]


@pytest.mark.parametrize(("bad", "good", "code", "severity", "node_id", "edge", "words"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_code_is_raised_and_not_raised(bad, good, code, severity, node_id, edge, words):
    found = [f for f in findings_of(bad) if f.code == code]
    assert found, f"{code} not raised; got:\n{describe(findings_of(bad))}"
    match = [f for f in found if f.node == node_id and (edge is None or f.edge == edge)]
    assert match, f"no {code} finding on node {node_id} edge {edge}; got:\n{describe(found)}"
    finding = match[0]
    assert finding.severity == severity
    message = finding.message
    assert message[0].isupper(), message
    assert message.rstrip().endswith("."), message
    assert len(message.split()) >= 5, message
    for word in words:
        assert word in message, f"{word!r} missing from {message!r}"
    good_findings = findings_of(good)
    assert not [f for f in good_findings if f.code == code], describe(good_findings)
    assert good_findings == [], describe(good_findings)


def test_severity_decides_whether_the_flow_can_run():
    errors = [code for _, _, _, code, severity, *_ in CASES if severity == "error"]
    warnings = [code for _, _, _, code, severity, *_ in CASES if severity == "warning"]
    assert set(warnings) == {"unreachable", "wait-on-yes-path"}
    assert set(errors) == {
        "no-start", "many-starts", "missing-no-path", "missing-yes-path", "no-path-must-start-with-wait",
        "dead-end", "no-email-before-condition", "click-without-links", "bad-setting", "bad-edge",
    }  # "cycle" has its own tests below
    unreachable = next(c for c in CASES if c[0] == "unreachable")[1]
    assert not has_errors(findings_of(unreachable))


def test_many_starts_names_every_start():
    data = changed(BASE, add_node(id="start2", type="start"), add_edge("start2", "e1"))
    starts = [f for f in findings_of(data) if f.code == "many-starts"]
    assert {f.node for f in starts} == {"start", "start2"}
    assert all("start" in f.message and "start2" in f.message for f in starts)


def test_no_start_finding_points_at_no_node():
    finding = next(f for f in findings_of(changed(BASE, drop_node("start"))) if f.code == "no-start")
    assert finding.node is None and finding.edge is None


def test_a_wait_reached_by_yes_and_no_paths_is_not_only_on_yes_paths():
    data = changed(BASE, add_node(id="wj", type="wait", duration="1h"), retarget("e2", "wj"),
                   retarget("e3", "wj"), add_edge("wj", "end1"), drop_node("end2"))
    assert findings_of(data) == []


def test_wait_after_a_later_no_path_on_a_yes_branch_is_tracked():
    # c1 -yes-> c2 -no-> w2: the YES token becomes tracked at c2, so w2 holds the campaign open.
    data = changed(BASE, add_node(id="c2", type="condition", event="click"),
                   add_node(id="w2", type="wait", duration="2d"), retarget("c1", "c2", "yes"),
                   add_edge("c2", "e2", "yes"), add_edge("c2", "w2", "no"), add_edge("w2", "end1"),
                   retarget("e2", "end2"))
    assert findings_of(data) == []


# -- cycles -----------------------------------------------------------------------

def cycle_flow() -> dict:
    """w1 -> e3 -> w2 -> w1 closes a loop of three steps on the NO path."""
    return changed(BASE, add_node(id="w2", type="wait", duration="1d"), retarget("e3", "w2"),
                   add_edge("w2", "w1"), drop_node("end2"))


def test_cycle_names_every_node_on_the_loop():
    findings = findings_of(cycle_flow())
    cycles = [f for f in findings if f.code == "cycle"]
    assert len(cycles) == 1, describe(findings)
    finding = cycles[0]
    assert finding.severity == "error"
    assert set(finding.nodes) == {"w1", "e3", "w2"}
    assert finding.node in {"w1", "e3", "w2"}
    for node_id in ("w1", "e3", "w2"):
        assert node_id in finding.message
    for node_id in ("start", "e1", "c1", "e2", "end1"):
        assert f"{node_id} " not in finding.message.replace("→", " ") + " "


def test_breaking_the_loop_removes_the_cycle_finding():
    data = changed(cycle_flow(), retarget("w2", "end1"))
    assert findings_of(data) == []


def test_two_loops_give_two_findings_each_naming_its_nodes():
    data = changed(cycle_flow(), add_node(id="w9", type="wait", duration="1h"), retarget("e2", "w9"),
                   add_edge("w9", "e2"), drop_node("end1"))
    cycles = [f for f in findings_of(data) if f.code == "cycle"]
    assert sorted(sorted(f.nodes) for f in cycles) == [["e2", "w9"], ["e3", "w1", "w2"]]


def test_a_loop_through_a_condition_names_all_of_it():
    # e3 leads back to c1: c1 -no-> w1 -> e3 -> c1.
    data = changed(BASE, retarget("e3", "c1"), drop_node("end2"))
    cycles = [f for f in findings_of(data) if f.code == "cycle"]
    assert len(cycles) == 1
    assert set(cycles[0].nodes) == {"c1", "w1", "e3"}


# -- many diamonds ----------------------------------------------------------------

def diamonds(count: int, last_watches: str) -> dict:
    """e0, then ``count`` diamonds: c_i -yes-> y_i (email) -> j_i; c_i -no-> w_i -> j_i (email).

    2**count paths lead to the final condition; every condition names e0.
    """
    nodes = [{"id": "start", "type": "start"},
             {"id": "e0", "type": "email", "subject": "First", "html": f"<a href=\"{LINK}\">go</a>"}]
    edges = [{"from": "start", "to": "e0"}]
    previous = "e0"
    for i in range(count):
        nodes += [{"id": f"c{i}", "type": "condition", "event": "open", "email": "e0"},
                  {"id": f"y{i}", "type": "email", "subject": f"Yes {i}", "html": "<p>yes</p>"},
                  {"id": f"w{i}", "type": "wait", "duration": "1h"},
                  {"id": f"j{i}", "type": "email", "subject": f"Join {i}", "html": "<p>join</p>"}]
        edges += [{"from": previous, "to": f"c{i}"},
                  {"from": f"c{i}", "port": "yes", "to": f"y{i}"},
                  {"from": f"c{i}", "port": "no", "to": f"w{i}"},
                  {"from": f"y{i}", "to": f"j{i}"},
                  {"from": f"w{i}", "to": f"j{i}"}]
        previous = f"j{i}"
    nodes += [{"id": "last", "type": "condition", "event": "click", "email": last_watches},
              {"id": "wl", "type": "wait", "duration": "1d"},
              {"id": "end", "type": "end"}]
    edges += [{"from": previous, "to": "last"},
              {"from": "last", "port": "yes", "to": "end"},
              {"from": "last", "port": "no", "to": "wl"},
              {"from": "wl", "to": "end"}]
    return {"format": "mailbranch.flow/1", "name": "Diamonds", "nodes": nodes, "edges": edges}


def test_sixty_diamonds_validate_clean():
    assert findings_of(diamonds(60, "e0")) == []


def test_sixty_diamonds_find_an_email_missing_from_some_paths():
    findings = findings_of(diamonds(60, "y30"))
    assert [(f.code, f.node) for f in findings] == [("no-email-before-condition", "last")]


# -- the CLI ----------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


def write(tmp_path: Path, data: dict, name: str = "flow.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def check_shape(payload: dict) -> list[dict]:
    assert set(payload) == {"findings"}
    for item in payload["findings"]:
        assert set(item) == {"code", "severity", "node", "edge", "message"}
        assert item["severity"] in ("error", "warning")
        assert item["node"] is None or isinstance(item["node"], str)
        assert item["edge"] is None or set(item["edge"]) == {"from", "port", "to"}
        assert isinstance(item["message"], str) and item["message"]
    return payload["findings"]


def test_cli_json_with_warnings_only_exits_0(tmp_path):
    bad = next(c for c in CASES if c[0] == "wait-on-yes-path")[1]
    result = run_cli("validate", "--json", str(write(tmp_path, bad)))
    assert result.returncode == 0, result.stderr
    findings = check_shape(json.loads(result.stdout))
    assert [(f["code"], f["severity"], f["node"], f["edge"]) for f in findings] == [
        ("wait-on-yes-path", "warning", "wy", None)]


def test_cli_json_with_errors_exits_1_and_shows_the_edge(tmp_path):
    data = changed(BASE, retarget("c1", "e3", "no"), drop_node("w1"), add_edge("e2", "end2"))
    result = run_cli("validate", "--json", str(write(tmp_path, data)))
    assert result.returncode == 1, result.stderr
    findings = check_shape(json.loads(result.stdout))
    by_code = {f["code"]: f for f in findings}
    assert by_code["no-path-must-start-with-wait"]["edge"] == {"from": "c1", "port": "no", "to": "e3"}
    assert by_code["no-path-must-start-with-wait"]["severity"] == "error"
    assert by_code["bad-edge"]["edge"] == {"from": "e2", "port": "next", "to": "end2"}


def test_cli_json_clean_flow_has_no_findings(tmp_path):
    result = run_cli("validate", "--json", str(write(tmp_path, BASE)))
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"findings": []}


def test_cli_json_cycle_message_names_the_loop(tmp_path):
    result = run_cli("validate", "--json", str(write(tmp_path, cycle_flow())))
    assert result.returncode == 1
    cycle = next(f for f in check_shape(json.loads(result.stdout)) if f["code"] == "cycle")
    for node_id in ("w1", "e3", "w2"):
        assert node_id in cycle["message"]


def test_cli_plain_output_lists_codes_and_exits_1(tmp_path):
    data = changed(BASE, drop_edge("e3"))
    result = run_cli("validate", str(write(tmp_path, data)))
    assert result.returncode == 1
    text = " ".join(result.stdout.split())
    assert "dead-end" in text and "e3" in text
    assert "Traceback" not in result.stdout + result.stderr

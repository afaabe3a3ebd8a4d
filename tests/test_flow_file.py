"""The flow file: ``mailbranch.flow/1`` load/save, broken files, durations (issue 3, part 1)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.flow import (
    DurationError,
    FlowFileError,
    dumps_flow,
    load_flow,
    loads_flow,
    parse_duration,
    save_flow,
)
from tests.flows import SEMANTICS_EXAMPLE  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

FLOW_A: dict = SEMANTICS_EXAMPLE


def flow_a() -> dict:
    return copy.deepcopy(FLOW_A)


def round_trip(data: dict) -> dict:
    return json.loads(dumps_flow(loads_flow(json.dumps(data))))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


def one_line(text: str) -> str:
    """Rich wraps long lines on a non-terminal; compare the words, not the wrapping."""
    return " ".join(text.split())


# -- load and save -------------------------------------------------------------

def test_load_reads_nodes_edges_and_settings():
    flow = loads_flow(json.dumps(FLOW_A))
    assert flow.name == "Spring offer"
    assert [n.id for n in flow.nodes] == ["start", "e1", "c1", "e2", "w1", "e3", "end1", "end2"]
    assert flow.node("c1").type == "condition"
    assert flow.node("c1").get("event") == "open"
    assert flow.node("c1").get("email") == "e1"
    assert flow.node("w1").get("duration") == "3d"
    assert flow.target("c1", "yes") == "e2"
    assert flow.target("c1", "no") == "w1"
    assert flow.target("start") == "e1"  # port defaults to next


def test_round_trip_of_a_plain_flow_is_unchanged():
    assert round_trip(flow_a()) == FLOW_A


def test_unknown_fields_survive_a_round_trip_everywhere():
    data = flow_a()
    data["layout"] = {"zoom": 1.25, "scroll": [10, -40]}
    data["notes"] = "Q2 campaign, ask Dana before changing"
    data["nodes"][1]["position"] = {"x": 120.5, "y": -30}
    data["nodes"][1]["colour"] = "#ff8800"
    data["nodes"][2]["note"] = "Watches the first email"
    data["nodes"][6]["tags"] = ["happy", {"nested": [1, 2, None]}]
    data["edges"][2]["colour"] = "green"
    data["edges"][4]["bend"] = [[1, 2], [3, 4]]
    data["edges"][0]["note"] = None
    assert round_trip(data) == data


def test_unknown_fields_survive_save_and_load_through_a_file(tmp_path):
    data = flow_a()
    data["x-editor"] = {"grid": True}
    data["nodes"][4]["position"] = {"x": 1, "y": 2}
    data["edges"][3]["label"] = "thanks"
    source = tmp_path / "in.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    target = tmp_path / "out.json"
    save_flow(load_flow(source), target)
    assert json.loads(target.read_text(encoding="utf-8")) == data
    # Saving again from the saved file gives byte-identical output.
    again = tmp_path / "again.json"
    save_flow(load_flow(target), again)
    assert again.read_text(encoding="utf-8") == target.read_text(encoding="utf-8")


def test_edits_through_the_model_keep_unknown_fields():
    data = flow_a()
    data["nodes"][1]["position"] = {"x": 5, "y": 6}
    flow = loads_flow(json.dumps(data))
    flow.set_setting("e1", "subject", "Hello again")
    saved = json.loads(dumps_flow(flow))
    node = next(n for n in saved["nodes"] if n["id"] == "e1")
    assert node["subject"] == "Hello again"
    assert node["position"] == {"x": 5, "y": 6}


def test_load_accepts_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.json"
    path.write_text("\ufeff" + json.dumps(FLOW_A), encoding="utf-8")
    assert load_flow(path).name == "Spring offer"


def test_sample_flows_load_and_round_trip():
    files = sorted((REPO / "resources" / "flows").glob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != "mailbranch.flow/1":
            continue
        assert round_trip(data) == data, path.name


# -- broken files ----------------------------------------------------------------

def _with(change) -> str:
    data = flow_a()
    change(data)
    return json.dumps(data)


def _node(data: dict, node_id: str) -> dict:
    return next(n for n in data["nodes"] if n["id"] == node_id)


BROKEN = [
    pytest.param('{"format": "mailbranch.flow/1", "nodes": [', ["not valid JSON", "line 1"], id="truncated-json"),
    pytest.param("hello", ["not valid JSON"], id="not-json"),
    pytest.param("[1, 2]", ["JSON object"], id="not-an-object"),
    pytest.param(_with(lambda d: d.update(format="mailbranch.flow/9")),
                 ["unknown format", "mailbranch.flow/9", "mailbranch.flow/1"], id="wrong-format-tag"),
    pytest.param(_with(lambda d: d.pop("format")), ["unknown format", "mailbranch.flow/1"], id="no-format"),
    pytest.param(_with(lambda d: d.update(nodes={"start": {}})), ["'nodes'", "list"], id="nodes-not-a-list"),
    pytest.param(_with(lambda d: d.update(edges="start->e1")), ["'edges'", "list"], id="edges-not-a-list"),
    pytest.param(_with(lambda d: d.update(name=7)), ["'name'", "text"], id="name-a-number"),
    pytest.param(_with(lambda d: _node(d, "e1").update(subject=42)),
                 ["node 'e1'", "'subject'", "text"], id="subject-a-number"),
    pytest.param(_with(lambda d: _node(d, "e2").update(html=["<p>"])),
                 ["node 'e2'", "'html'", "text"], id="html-a-list"),
    pytest.param(_with(lambda d: _node(d, "w1").update(duration=True)),
                 ["node 'w1'", "'duration'"], id="duration-a-bool"),
    pytest.param(_with(lambda d: _node(d, "w1").update(duration={"days": 3})),
                 ["node 'w1'", "'duration'"], id="duration-an-object"),
    pytest.param(_with(lambda d: _node(d, "c1").update(event=1)),
                 ["node 'c1'", "'event'", "text"], id="event-a-number"),
    pytest.param(_with(lambda d: _node(d, "c1").update(type="branch")),
                 ["node 'c1'", "unknown node type", "branch"], id="unknown-node-type"),
    pytest.param(_with(lambda d: _node(d, "c1").pop("type")), ["node 'c1'", "'type'"], id="missing-type"),
    pytest.param(_with(lambda d: d["nodes"].append({"id": "e2", "type": "end"})),
                 ["node 'e2'", "twice"], id="duplicate-id"),
    pytest.param(_with(lambda d: d["nodes"][3].pop("id")), ["nodes[3]", "'id'"], id="missing-id"),
    pytest.param(_with(lambda d: d["nodes"][3].update(id="")), ["nodes[3]", "'id'"], id="empty-id"),
    pytest.param(_with(lambda d: d["nodes"][2].update(id=3)), ["nodes[2]", "'id'"], id="id-a-number"),
    pytest.param(_with(lambda d: d["nodes"].append("end3")), ["nodes[8]", "object"], id="node-not-an-object"),
    pytest.param(_with(lambda d: d["edges"][1].pop("to")), ["edges[1]", "'to'"], id="edge-without-to"),
    pytest.param(_with(lambda d: d["edges"][2].update(port=1)),
                 ["edges[2]", "'c1'", "'port'"], id="edge-port-a-number"),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_broken_file_gives_one_clear_message(text, expected):
    with pytest.raises(FlowFileError) as caught:
        loads_flow(text)
    message = str(caught.value)
    assert "\n" not in message
    assert "Traceback" not in message
    for part in expected:
        assert part in message, f"{part!r} missing from {message!r}"


def test_load_flow_names_the_file(tmp_path):
    path = tmp_path / "spring.json"
    path.write_text(_with(lambda d: _node(d, "e1").update(subject=42)), encoding="utf-8")
    with pytest.raises(FlowFileError, match=r"spring\.json: node 'e1': field 'subject'"):
        load_flow(path)


def test_missing_file_is_a_flow_file_error(tmp_path):
    with pytest.raises(FlowFileError, match="no such file"):
        load_flow(tmp_path / "nope.json")


def test_file_that_is_not_text_is_a_flow_file_error(tmp_path):
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(FlowFileError, match="binary.json"):
        load_flow(path)


# -- the CLI on broken files -------------------------------------------------------

@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: _node(d, "e1").update(subject=42), ["node 'e1'", "'subject'", "must be text"]),
    (lambda d: _node(d, "c1").update(type="branch"), ["node 'c1'", "unknown node type 'branch'"]),
    (lambda d: d.update(format="other/2"), ["unknown format", "other/2"]),
])
def test_cli_validate_exits_2_with_the_message(tmp_path, change, expected):
    path = tmp_path / "broken.json"
    path.write_text(_with(change), encoding="utf-8")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    stderr = one_line(result.stderr)
    for part in expected:
        assert part in stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_validate_exits_2_on_text_that_is_not_json(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text("this is not a flow", encoding="utf-8")
    result = run_cli("validate", "--json", str(path))
    assert result.returncode == 2
    assert "not valid JSON" in one_line(result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout.strip() == ""  # no half-printed JSON for a script to misread


def test_cli_validate_exits_2_on_a_missing_file(tmp_path):
    result = run_cli("validate", str(tmp_path / "gone.json"))
    assert result.returncode == 2
    assert "no such file" in one_line(result.stderr)
    assert "Traceback" not in result.stderr


def test_cli_validate_accepts_a_good_file(tmp_path):
    path = tmp_path / "good.json"
    path.write_text(json.dumps(FLOW_A), encoding="utf-8")
    result = run_cli("validate", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# -- durations -----------------------------------------------------------------------

@pytest.mark.parametrize(("value", "seconds"), [
    ("45s", 45), ("30m", 1800), ("12h", 43200), ("3d", 259200), ("1d12h", 129600),
    ("1d 12h", 129600), ("2h30m15s", 9015), ("1.5h", 5400), ("3D", 259200), (" 3d ", 259200),
    (90, 90), (2.5, 2.5), ("600", 600),
])
def test_durations_parse(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [
    "", "   ", "3 days", "d", "3x", "1d1d", "1w", "12h-", "-", "abc", True, None, [3], {"d": 3},
])
def test_bad_durations_are_refused_with_a_hint(value):
    with pytest.raises(DurationError) as caught:
        parse_duration(value)
    message = str(caught.value)
    assert message
    assert any(word in message for word in ("3d", "12h", "twice", "1d12h"))

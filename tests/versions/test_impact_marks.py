"""The impact preview is drawn node by node on the canvas while its dialog is open:
each step the edit touches shows its figures, a removed step that holds tokens is
drawn where it stood, and closing the dialog takes every mark away."""

from __future__ import annotations

import os
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QWidget  # noqa: E402

from app.publish_bar import ChangesBar  # noqa: E402
from editor.document import FlowDocument  # noqa: E402
from editor.impact_marks import ImpactMark, ImpactMarks, mark_lines  # noqa: E402
from editor.layout import apply_missing_positions  # noqa: E402
from editor.scene import FlowScene  # noqa: E402
from engine.versions.impact import preview  # noqa: E402
from tests.conftest import fresh_database  # noqa: E402
from tests.versions.support import FLOW_A, T0, H, edited, flow, start  # noqa: E402


def _replaced_w1() -> dict:
    """FLOW_A with w1 (3d) gone, a new wait w9 (2d) in its place, and e3's subject fixed."""
    data = edited(FLOW_A)
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "w1"] + [{"id": "w9", "type": "wait", "duration": "2d"}]
    data["edges"] = [e if e.get("port") != "no" else {**e, "to": "w9"} for e in data["edges"] if e["from"] != "w1"]
    data["edges"].append({"from": "w9", "to": "e3"})
    next(n for n in data["nodes"] if n["id"] == "e3")["subject"] = "Did you miss it? Last days"
    return data


def _impact(tmp_path, mapping):
    """A real preview: three leads wait on w1 when the edit is previewed."""
    db = fresh_database("sqlite", tmp_path)
    engine = start(db, FLOW_A, leads=3)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    found = preview(db, engine.campaign_id, flow(_replaced_w1()), mapping, clock=engine.clock)
    db.dispose()
    return found.as_json()


def _texts(marks: ImpactMarks) -> dict[str, list[str]]:
    return {node: mark.lines for node, mark in marks.marks.items()}


def test_each_touched_step_shows_its_figures_and_a_removed_one_is_drawn_where_it_stood(qtbot, tmp_path):
    running = flow(FLOW_A)
    apply_missing_positions(running)
    w1_at = running.find_node("w1").extra["position"]
    doc = FlowDocument(flow(_replaced_w1()))
    apply_missing_positions(doc.flow)
    scene = FlowScene(doc)
    marks = ImpactMarks(scene)
    marks.show(_impact(tmp_path, {"w1": "w9"}), running)
    texts = _texts(marks)
    assert texts["w1"] == ["removed", "3 tokens → w9"]
    assert texts["w9"] == ["new step"]
    assert texts["e3"] == ["new content"]
    assert texts["c1"][0] == "arrows changed"
    assert "e1" not in texts and "e2" not in texts  # untouched steps carry no mark
    # w1 is not on the edited canvas: its ghost stands where it stood in the running flow.
    ghost = marks.marks["w1"]
    assert ghost.ghost == "wait" and (ghost.pos().x(), ghost.pos().y()) == tuple(float(v) for v in w1_at)
    # The others sit on their own steps.
    assert marks.marks["w9"].pos() == scene.nodes["w9"].pos()
    assert all(isinstance(item, ImpactMark) for item in scene.items() if item in marks.marks.values())
    marks.clear()
    assert not any(isinstance(item, ImpactMark) for item in scene.items())


def test_the_figures_read_as_a_marketer_says_them():
    row = {"node": "w1", "status": "re-timed", "tokens": 120, "retimed": 42, "listeners": 40, "stop_listening": 0,
           "gained": 310, "lost": 1, "not_sent": 0}
    assert mark_lines(row) == ["new timing", "120 tokens here", "42 waits re-timed", "40 listeners follow",
                               "+310 emails", "−1 email"]
    assert mark_lines({"node": "w0", "status": "removed", "tokens": 4, "goes_to": None}) == [
        "removed", "4 tokens → finish"]


def test_the_marks_show_while_the_dialog_is_open_and_go_when_it_closes(qtbot, tmp_path):
    impact = _impact(tmp_path, None)
    running = flow(FLOW_A)
    apply_missing_positions(running)
    run_scene = FlowScene(FlowDocument(running))
    doc = FlowDocument(flow(_replaced_w1()))
    editor_scene = FlowScene(doc)
    run = SimpleNamespace(flow=running, campaign_id=1, figures={}, engine=SimpleNamespace(client=None),
                          editor=SimpleNamespace(scene=run_scene))
    parent = QWidget()
    qtbot.addWidget(parent)
    bar = ChangesBar(run, lambda: doc.flow, parent)
    bar.canvas = lambda: editor_scene
    dialog = bar.open_dialog(impact, doc.flow, {})
    on_editor = {m.node: m for m in bar.marks[0].marks.values()}
    on_run = {m.node: m for m in bar.marks[1].marks.values()}
    assert on_editor["w1"].lines == ["removed", "3 tokens → finish"] and on_editor["w1"].ghost == "wait"
    # On the running flow's canvas w1 is a real step: marked on it, no ghost.
    assert on_run["w1"].ghost is None and on_run["w1"].pos() == run_scene.nodes["w1"].pos()
    assert "w9" not in on_run  # the new step is not on the running flow
    assert any(isinstance(i, ImpactMark) for i in editor_scene.items())
    dialog.reject()
    assert not any(isinstance(i, ImpactMark) for i in editor_scene.items() + run_scene.items())
    assert bar.marks == []

"""New, open, save, save as, export; unsaved changes are never lost silently."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QPointF

from editor import window as window_module
from engine.flow.fileformat import dumps_flow, load_flow

FLOWS = Path(__file__).resolve().parents[2] / "resources" / "flows"


def test_save_reopen_and_compare(sample_canvas, tmp_path, qtbot):
    c = sample_canvas
    win = c.window
    c.drop_from_palette("wait", QPointF(1300, 500))
    c.click_node("e3")
    c.editor.inspector.note.setFocus()
    c.editor.inspector.note.setPlainText("Reminder for people who did not open.")
    assert win.isWindowModified()
    path = tmp_path / "spring.json"
    win.save_to(path)
    assert not win.isWindowModified()
    assert "spring.json" in win.windowTitle()
    saved = c.json()
    assert path.read_text(encoding="utf-8") == saved
    reread = load_flow(path)
    assert reread.node("e3").extra["note"] == "Reminder for people who did not open."
    assert reread.node("e3").extra["position"] == c.doc.node("e3").extra["position"]

    other = window_module.EditorWindow()
    qtbot.addWidget(other)
    assert other.open_path(path)
    assert dumps_flow(other.document.flow) == saved
    assert set(other.editor.scene.nodes) == {n.id for n in reread.nodes}
    assert not other.isWindowModified()


def test_save_uses_the_chosen_path_once(window, tmp_path, monkeypatch):
    target = tmp_path / "new.json"
    asked = []
    monkeypatch.setattr(window, "choose_save_path", lambda *a: asked.append(1) or str(target))
    window.editor.add_at_centre("email")
    assert window.actions["save"].trigger() is None
    assert target.exists() and asked == [1]
    window.editor.add_at_centre("end")
    window.actions["save"].trigger()
    assert asked == [1]  # saved in place the second time
    assert len(json.loads(target.read_text())["nodes"]) == 3


def test_broken_file_shows_its_error_and_leaves_the_document_untouched(sample_canvas, tmp_path):
    c = sample_canvas
    win = c.window
    c.drop_from_palette("email", QPointF(1300, 500))
    before = c.json()
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"format": "mailbranch.flow/1", "nodes": [')
    assert not win.open_path(bad_json)
    assert c.json() == before
    assert win.document.path.name == "sample.json"
    assert win.isWindowModified()
    assert win.error_box is not None and win.error_box.isVisible()
    assert "not valid JSON" in win.error_box.text()
    assert c.doc.undo_stack.count() == 1  # the history is still there

    bad_type = tmp_path / "bad-type.json"
    bad_type.write_text('{"format": "mailbranch.flow/1", "nodes": [{"id": "x", "type": "sms"}]}')
    assert not win.open_path(bad_type)
    assert "unknown node type 'sms'" in win.error_box.text()
    assert c.json() == before


def test_open_asks_first_and_cancel_keeps_everything(sample_canvas, monkeypatch):
    c = sample_canvas
    win = c.window
    c.drop_from_palette("end", QPointF(1300, 500))
    before = c.json()
    asked = []
    monkeypatch.setattr(win, "ask_save_changes", lambda: asked.append(1) or window_module.CANCEL)
    assert not win.open_path(FLOWS / "flow-a.json")
    assert asked == [1]
    assert c.json() == before
    monkeypatch.setattr(win, "ask_save_changes", lambda: window_module.DISCARD)
    assert win.open_path(FLOWS / "flow-a.json")
    assert c.json() == dumps_flow(load_flow(FLOWS / "flow-a.json"))
    assert not win.isWindowModified()
    assert c.doc.undo_stack.count() == 0


def test_close_with_unsaved_changes_asks(window, monkeypatch, tmp_path):
    window.editor.add_at_centre("email")
    monkeypatch.setattr(window, "ask_save_changes", lambda: window_module.CANCEL)
    assert not window.close()
    assert window.isVisible()
    target = tmp_path / "kept.json"
    monkeypatch.setattr(window, "ask_save_changes", lambda: window_module.SAVE)
    monkeypatch.setattr(window, "choose_save_path", lambda *a: str(target))
    assert window.close()
    assert len(load_flow(target).nodes) == 2


def test_new_document_starts_with_a_start_step(sample_window):
    sample_window.actions["new"].trigger()
    flow = sample_window.document.flow
    assert [n.type for n in flow.nodes] == ["start"]
    assert sample_window.document.path is None
    assert "not saved yet" in sample_window.windowTitle()


def test_export_writes_logic_only_and_keeps_the_document(sample_window, tmp_path):
    before = dumps_flow(sample_window.document.flow)
    out = tmp_path / "export.json"
    assert sample_window.export_json(out)
    data = json.loads(out.read_text())
    assert all("position" not in n and "note" not in n for n in data["nodes"])
    assert len(data["edges"]) == 13
    assert dumps_flow(sample_window.document.flow) == before
    assert sample_window.document.path.name == "sample.json"


def test_flow_without_positions_gets_a_left_to_right_layout(window, tmp_path):
    data = json.loads((FLOWS / "flow-c.json").read_text())
    for node in data["nodes"]:
        node.pop("position", None)
    path = tmp_path / "hand-written.json"
    path.write_text(json.dumps(data))
    assert window.open_path(path)
    flow = window.document.flow
    pos = {n.id: n.extra["position"] for n in flow.nodes}
    for edge in flow.edges:
        assert pos[edge.source][0] < pos[edge.target][0]
    assert len({tuple(p) for p in pos.values()}) == len(pos)
    # YES branches sit above NO branches of the same condition.
    for node in flow.nodes:
        if node.type == "condition":
            assert pos[flow.target(node.id, "yes")][1] < pos[flow.target(node.id, "no")][1]
    assert not window.isWindowModified()

"""Undo, redo, moves, selection, clipboard: every edit is one undo step."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from engine.flow.fileformat import loads_flow


def test_undo_and_redo_return_exactly_the_earlier_flow(sample_canvas):
    c = sample_canvas
    stack = c.doc.undo_stack
    original = c.json()
    states = [original]

    # Add a step by drop, connect it, edit it, move it, then delete a step with edges.
    e9 = c.drop_from_palette("email", QPointF(1300, 100))
    states.append(c.json())
    c.scene.clearSelection()
    c.scene.edges[c.doc.flow.edge_on("e2", "next")].setSelected(True)
    c.editor.actions["delete"].trigger()
    states.append(c.json())
    c.connect("e2", "next", e9)
    states.append(c.json())
    c.click_node(e9)
    c.editor.inspector.current.subject.setFocus()
    QTest.keyClicks(c.editor.inspector.current.subject, "Last call")
    states.append(c.json())
    c.show(e9)
    start = c.node_centre(e9)
    c.drag(start, start + QPoint(0, 80))
    states.append(c.json())
    c.click_node("w1")
    c.view.setFocus()
    QTest.keyClick(c.view.viewport(), Qt.Key.Key_Delete)
    assert "w1" not in c.doc.flow
    states.append(c.json())
    assert stack.count() == len(states) - 1, [stack.text(i) for i in range(stack.count())]

    for expected in reversed(states[:-1]):
        c.editor.actions["undo"].trigger()
        assert c.json() == expected
    assert c.json() == original
    assert not c.doc.modified
    # The canvas mirrors the model again: same nodes, same edges, same places.
    assert set(c.scene.nodes) == {n.id for n in c.doc.flow.nodes}
    assert len(c.scene.edges) == len(c.doc.flow.edges)
    for node in c.doc.flow.nodes:
        item = c.scene.nodes[node.id]
        assert [item.pos().x(), item.pos().y()] == node.extra["position"]
    for expected in states[1:]:
        c.editor.actions["redo"].trigger()
        assert c.json() == expected


def test_a_drag_is_one_undo_step_snapped_to_the_grid(sample_canvas):
    c = sample_canvas
    stack = c.doc.undo_stack
    before = list(c.doc.node("e3").extra["position"])
    c.show("e3")
    start = c.node_centre("e3")
    c.drag(start, start + QPoint(47, 63), steps=12)
    after = c.doc.node("e3").extra["position"]
    assert stack.count() == 1
    assert after != before
    assert after[0] % 20 == 0 and after[1] % 20 == 0
    # The edges followed the node.
    edge_item = c.scene.edges[c.doc.flow.edge_on("w1", "next")]
    end = edge_item.path().pointAtPercent(1.0)
    assert abs(end.y() - (after[1] + 30)) < 1
    c.editor.actions["undo"].trigger()
    assert c.doc.node("e3").extra["position"] == before
    assert c.scene.nodes["e3"].pos() == QPointF(*before)


def test_moving_a_selection_moves_all_of_it_in_one_step(sample_canvas):
    c = sample_canvas
    c.scene.select_nodes(["w1", "e3"])
    before = {n: list(c.doc.node(n).extra["position"]) for n in ("w1", "e3")}
    c.show("w1", "e3")
    start = c.node_centre("w1")
    c.drag(start, start + QPoint(0, 100))
    assert c.doc.undo_stack.count() == 1
    for node_id in ("w1", "e3"):
        assert c.doc.node(node_id).extra["position"][1] == before[node_id][1] + 100
    # Arrow-key nudges of the same selection merge into one more step.
    c.view.setFocus()
    for _ in range(3):
        QTest.keyClick(c.view.viewport(), Qt.Key.Key_Right)
    assert c.doc.undo_stack.count() == 2
    assert c.doc.node("w1").extra["position"][0] == before["w1"][0] + 60
    c.editor.actions["undo"].trigger()
    assert c.doc.node("w1").extra["position"][0] == before["w1"][0]


def test_rubber_band_selects_what_it_touches(sample_canvas):
    c = sample_canvas
    c.scene.clearSelection()
    c.show("w1", "e3")
    w1 = c.scene.nodes["w1"].sceneBoundingRect()
    top_left = c.to_view(QPointF(w1.left() - 30, w1.top() - 30 + 24))
    e3 = c.scene.nodes["e3"]
    bottom_right = c.to_view(e3.mapToScene(QPointF(e3.width / 2, e3.height / 2)))
    c.drag(top_left, bottom_right)
    assert c.scene.selected_node_ids() == ["w1", "e3"]
    assert c.doc.undo_stack.count() == 0


def test_copy_paste_keeps_inner_edges_with_fresh_ids(sample_canvas):
    c = sample_canvas
    c.scene.select_nodes(["c3", "w3", "end4"])
    c.view.setFocus()
    QTest.keyClick(c.view.viewport(), Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(c.view.viewport(), Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    flow = c.doc.flow
    new = c.scene.selected_node_ids()
    assert len(new) == 3 and not set(new) & {"c3", "w3", "end4"}
    types = sorted(flow.node(n).type for n in new)
    assert types == ["condition", "end", "wait"]
    inner = {(e.source, e.port, e.target) for e in flow.edges if e.source in new}
    cond = next(n for n in new if flow.node(n).type == "condition")
    wait = next(n for n in new if flow.node(n).type == "wait")
    end = next(n for n in new if flow.node(n).type == "end")
    assert inner == {(cond, "no", wait), (wait, "next", end)}  # the YES edge left the copy
    assert flow.node(wait).get("duration") == "1d"
    old, pasted = flow.node("w3").extra["position"], flow.node(wait).extra["position"]
    assert pasted == [old[0] + 40, old[1] + 40]
    assert c.doc.undo_stack.count() == 1
    c.editor.actions["undo"].trigger()
    assert not set(new) & {n.id for n in flow.nodes}


def test_duplicate_retargets_a_condition_watching_a_copied_email(sample_canvas):
    c = sample_canvas
    c.doc.undo_stack.push(__import__("editor.commands", fromlist=["SetSetting"]).SetSetting(
        c.doc, "c3", "email", "e3"))
    c.scene.select_nodes(["e3", "c3"])
    c.editor.actions["duplicate"].trigger()
    new = c.scene.selected_node_ids()
    flow = c.doc.flow
    email = next(n for n in new if flow.node(n).type == "email")
    cond = next(n for n in new if flow.node(n).type == "condition")
    assert flow.node(cond).get("email") == email
    assert flow.target(email) == cond


def test_cut_then_paste_elsewhere(sample_canvas):
    c = sample_canvas
    c.scene.select_nodes(["w2", "end2"])
    c.editor.actions["cut"].trigger()
    assert "w2" not in c.doc.flow and "end2" not in c.doc.flow
    c.editor.actions["paste"].trigger()
    flow = c.doc.flow
    ids = c.scene.selected_node_ids()
    assert sorted(flow.node(n).type for n in ids) == ["end", "wait"]
    assert len([e for e in flow.edges if e.source in ids and e.target in ids]) == 1


def test_zoom_with_wheel_and_to_fit(sample_canvas):
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    c = sample_canvas
    assert c.view.zoom() == 1.0
    centre = QPointF(c.view.viewport().rect().center())
    event = QWheelEvent(centre, c.view.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(c.view.viewport(), event)
    assert c.view.zoom() > 1.2
    c.editor.actions["zoom_fit"].trigger()
    visible = c.view.mapToScene(c.view.viewport().rect()).boundingRect()
    for item in c.scene.nodes.values():
        assert visible.contains(item.mapRectToScene(item.node_rect()))


def test_space_drag_pans_without_editing(sample_canvas):
    c = sample_canvas
    c.view.setFocus()
    before = c.json()
    h = c.view.horizontalScrollBar().value()
    QTest.keyPress(c.view, Qt.Key.Key_Space)
    start = c.node_centre("e1")  # even over a node, Space+drag pans
    c.drag(start, start + QPoint(-150, 0))
    QTest.keyRelease(c.view, Qt.Key.Key_Space)
    assert c.view.horizontalScrollBar().value() == h + 150
    assert c.json() == before


def test_tidy_up_is_one_undoable_step(sample_canvas):
    c = sample_canvas
    before = c.json()
    c.editor.actions["arrange"].trigger()
    laid = loads_flow(c.json())
    xs = {n.id: n.extra["position"][0] for n in laid.nodes}
    for e in laid.edges:
        assert xs[e.source] < xs[e.target]
    assert c.doc.undo_stack.count() == 1
    c.editor.actions["undo"].trigger()
    assert c.json() == before

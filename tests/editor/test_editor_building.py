"""Build a flow the way a marketer does, and watch the overlay react."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolTip

from engine.flow.fileformat import loads_flow


def edge_set(flow):
    return {(e.source, e.port, e.target) for e in flow.edges}


def test_build_flow_with_mouse_and_inspector(canvas, qtbot):
    inspector = canvas.editor.inspector
    assert [n.id for n in canvas.doc.flow.nodes] == ["start"]

    e1 = canvas.add_by_double_click("email")
    assert canvas.scene.selected_node_ids() == [e1]
    assert inspector.node_id == e1
    # A new email starts with the type's default subject and body; the user types over them.
    assert inspector.current.subject.text() == "New email"
    inspector.current.subject.setFocus()
    inspector.current.subject.selectAll()
    QTest.keyClicks(inspector.current.subject, "Welcome")
    inspector.current.html.setFocus()
    inspector.current.html.selectAll()
    QTest.keyClicks(inspector.current.html, '<p>Hi {{ first_name }}, <a href="https://x.example/a">see it</a></p>')
    assert canvas.doc.node(e1).get("subject") == "Welcome"
    # The node shows the subject at once, and the preview renders for the sample lead.
    assert canvas.scene.nodes[e1]._text[0] == "Welcome"
    assert "Hi Ana" in inspector.current.preview.toPlainText()

    c1 = canvas.drop_from_palette("condition", QPointF(500, 0))
    end1 = canvas.drop_from_palette("end", QPointF(760, -100))
    canvas.connect("start", "next", e1)
    canvas.connect(e1, "next", c1)
    canvas.connect(c1, "yes", end1)
    assert edge_set(canvas.doc.flow) == {("start", "next", e1), (e1, "next", c1), (c1, "yes", end1)}

    # The condition's summary names the watched email.
    canvas.settle()
    assert "".join(canvas.scene.nodes[c1]._text) == "Opened Welcome?"
    # No NO path: the overlay says so on the condition, in its tooltip and in the list.
    assert "missing-no-path" in canvas.codes_on(c1)
    assert "has no NO path" in canvas.scene.nodes[c1].toolTip()
    assert any(f.code == "missing-no-path" and f.node == c1 for f in canvas.editor.findings.findings())

    w1 = canvas.drop_from_palette("wait", QPointF(760, 140))
    end2 = canvas.drop_from_palette("end", QPointF(1000, 140))
    canvas.click_node(w1)
    assert inspector.node_id == w1
    duration = inspector.current.editors["duration"]
    duration.amount.setFocus()
    duration.amount.selectAll()
    QTest.keyClicks(duration.amount, "3")
    duration.unit.setCurrentIndex(duration.unit.findData("d"))
    duration.unit.activated.emit(duration.unit.currentIndex())
    assert canvas.doc.node(w1).get("duration") == "3d"
    assert "".join(canvas.scene.nodes[w1]._text) == "Wait 3 days"

    canvas.connect(c1, "no", w1)
    canvas.connect(w1, "next", end2)
    canvas.settle()
    assert "missing-no-path" not in canvas.codes_on(c1)
    assert canvas.doc.findings == [], [f.message for f in canvas.doc.findings]
    assert "No problems" in canvas.editor.findings.summary.text()
    # What the canvas drew is what the file holds.
    reread = loads_flow(canvas.json())
    assert edge_set(reread) == edge_set(canvas.doc.flow)


def test_no_path_not_starting_with_wait_is_marked_on_edge(sample_canvas):
    c = sample_canvas
    # Reconnect c1's NO output straight to the email e3.
    edge = c.doc.flow.edge_on("c1", "no")
    c.scene.clearSelection()
    c.scene.edges[edge].setSelected(True)
    c.editor.actions["delete"].trigger()
    assert c.doc.flow.edge_on("c1", "no") is None
    c.connect("c1", "no", "e3")
    c.settle()
    assert "no-path-must-start-with-wait" in c.codes_on("c1")
    bad = c.doc.flow.edge_on("c1", "no")
    assert [f.code for f in c.scene.edges[bad].findings] == ["no-path-must-start-with-wait"]


def test_forbidden_edges_are_refused_with_a_message(sample_canvas):
    c = sample_canvas
    before = c.json()
    # A second edge on a used port.
    c.connect("e1", "next", "e3")
    assert c.json() == before
    assert "already connected" in (c.scene.last_refusal or "")
    assert "already connected" in QToolTip.text()
    # Into start.
    c.scene.clearSelection()
    flow = c.doc.flow
    c.undo_edge = flow.edge_on("w3", "next")
    c.scene.edges[c.undo_edge].setSelected(True)
    c.editor.actions["delete"].trigger()
    after_delete = c.json()
    c.connect("w3", "next", "start")
    assert c.json() == after_delete
    assert c.scene.last_refusal == "Nothing can lead into the Start step."
    # Onto itself.
    c.connect("w3", "next", "w3")
    assert c.scene.last_refusal == "A step cannot lead to itself."
    # A loop.
    c.connect("w3", "next", "e1")
    assert "loop" in c.scene.last_refusal
    assert c.json() == after_delete
    # The drop target is no longer highlighted afterwards.
    assert all(item.drop_state is None for item in c.scene.nodes.values())


def test_drop_target_is_highlighted_while_dragging(sample_canvas):
    c = sample_canvas
    c.scene.clearSelection()
    edge = c.doc.flow.edge_on("w3", "next")
    c.scene.edges[edge].setSelected(True)
    c.editor.actions["delete"].trigger()
    c.show("w3", "end4")
    viewport = c.view.viewport()
    start, end = c.port_pos("w3"), c.node_centre("end4")
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(viewport, start + (end - start) * 0.5)
    QTest.mouseMove(viewport, end)
    assert c.scene.nodes["end4"].drop_state == "ok"
    # Hovering e3 would close a loop (e3 -> c3 -> w3): refused, with the reason by the cursor.
    QTest.mouseMove(viewport, c.node_centre("e3"))
    assert c.scene.nodes["end4"].drop_state is None
    assert c.scene.nodes["e3"].drop_state == "refused"
    assert "loop" in QToolTip.text()
    QTest.mouseMove(viewport, c.node_centre("end4"))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, c.node_centre("end4"))
    assert c.doc.flow.target("w3") == "end4"
    assert c.scene.nodes["end4"].drop_state is None


def test_loop_from_a_file_is_visible_on_every_node_of_it(canvas, tmp_path):
    path = tmp_path / "loop.json"
    path.write_text("""{"format": "mailbranch.flow/1", "name": "Loop", "nodes": [
      {"id": "start", "type": "start"},
      {"id": "e1", "type": "email", "subject": "A", "html": "<p>a</p>"},
      {"id": "w1", "type": "wait", "duration": "1d"},
      {"id": "e2", "type": "email", "subject": "B", "html": "<p>b</p>"}],
      "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "w1"},
                {"from": "w1", "to": "e2"}, {"from": "e2", "to": "e1"}]}""")
    assert canvas.window.open_path(path)
    for node_id in ("e1", "w1", "e2"):
        assert "cycle" in canvas.codes_on(node_id)
    loop_edges = [item for edge, item in canvas.scene.edges.items() if edge.source != "start"]
    assert all(any(f.code == "cycle" for f in item.findings) for item in loop_edges)
    # Positions were laid out automatically, left to right.
    xs = {n.id: n.extra["position"][0] for n in canvas.doc.flow.nodes}
    assert xs["start"] < xs["e1"]
    assert len({tuple(n.extra["position"]) for n in canvas.doc.flow.nodes}) == 4

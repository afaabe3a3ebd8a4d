"""The inspector edits every setting, and each edit is one undoable command."""

from __future__ import annotations

from PySide6.QtTest import QTest

from tests.qt_helpers import choose


def test_condition_offers_emails_before_it_and_their_links(sample_canvas):
    c = sample_canvas
    ins = c.editor.inspector
    c.click_node("c3")
    assert ins.node_id == "c3"
    offered = [ins.current.editors["email"].combo.itemData(i) for i in range(ins.current.editors["email"].combo.count())]
    assert offered == [None, "e3", "e1"]  # nearest first
    assert ins.current.editors["url"].combo.isVisibleTo(ins)
    links = [ins.current.editors["url"].combo.itemData(i) for i in range(ins.current.editors["url"].combo.count())]
    assert links == [None, "https://shop.example/offer"]
    choose(ins.current.editors["url"].combo, "https://shop.example/offer")
    assert c.doc.node("c3").get("url") == "https://shop.example/offer"
    assert "".join(c.scene.nodes["c3"]._text) == "Clicked see it?"
    choose(ins.current.editors["event"].combo, "open")
    assert not ins.current.editors["url"].combo.isVisibleTo(ins)
    choose(ins.current.editors["email"].combo, "e1")
    assert c.doc.node("c3").get("email") == "e1"
    choose(ins.current.editors["mode"].combo, "exclusive")
    assert c.doc.node("c3").get("mode") == "exclusive"
    c.settle()
    # An open condition must not keep a link: validation says so on the node.
    assert "bad-setting" in c.codes_on("c3")
    choose(ins.current.editors["url"].combo, None) if ins.current.editors["url"].combo.findData(None) >= 0 else None
    assert c.doc.undo_stack.count() == 5
    for _ in range(5):
        c.editor.actions["undo"].trigger()
    assert c.doc.node("c3").settings == {"event": "click"}


def test_email_fields_preview_and_typing_is_one_undo_step(sample_canvas):
    c = sample_canvas
    ins = c.editor.inspector
    c.click_node("e2")
    ins.current.subject.setFocus()
    ins.current.subject.selectAll()
    QTest.keyClicks(ins.current.subject, "Your coupon, {{ first_name }}")
    assert c.doc.node("e2").get("subject") == "Your coupon, {{ first_name }}"
    assert c.doc.undo_stack.count() == 1
    assert "Your coupon, Ana" in ins.current.preview_subject.text()
    ins.current.sender.setFocus()
    QTest.keyClicks(ins.current.sender, "shop@bakery.example")
    assert c.doc.node("e2").get("sender") == "shop@bakery.example"
    ins.current.text.setFocus()
    QTest.keyClicks(ins.current.text, "Coupon: SPRING10")
    assert c.doc.node("e2").get("text") == "Coupon: SPRING10"
    ins.current.html.setFocus()
    ins.current.html.selectAll()
    QTest.keyClicks(ins.current.html, "<p>{{ broken </p>")
    assert "cannot be rendered" in ins.current.preview.toPlainText()
    c.settle()
    assert "bad-setting" in c.codes_on("e2")
    assert c.doc.undo_stack.count() == 4
    # Undo puts the text back in the field too.
    c.editor.actions["undo"].trigger()
    assert "SPRING10" in ins.current.html.toPlainText()
    assert "Use it now" in ins.current.preview.toPlainText()


def test_wait_duration_with_units_and_a_note(sample_canvas):
    c = sample_canvas
    ins = c.editor.inspector
    c.click_node("w2")
    assert (ins.current.editors["duration"].amount.value(), ins.current.editors["duration"].unit.currentData()) == (2, "d")
    choose(ins.current.editors["duration"].unit, "h")
    assert c.doc.node("w2").get("duration") == "2h"
    ins.current.editors["duration"].amount.setValue(36)
    assert c.doc.node("w2").get("duration") == "36h"
    assert "".join(c.scene.nodes["w2"]._text) == "Wait 1 day 12 hours"
    ins.note.setFocus()
    QTest.keyClicks(ins.note, "Short wait")
    assert c.doc.node("w2").extra["note"] == "Short wait"
    assert "Short wait" in c.scene.nodes["w2"].toolTip()


def test_campaign_name_and_start_leads(sample_canvas):
    c = sample_canvas
    ins = c.editor.inspector
    c.scene.clearSelection()
    ins.campaign.flow_name.setFocus()
    ins.campaign.flow_name.selectAll()
    QTest.keyClicks(ins.campaign.flow_name, "Autumn offer")
    assert c.doc.flow.name == "Autumn offer"
    assert c.window.windowTitle().startswith("Autumn offer")
    c.click_node("start")
    ins.current.editors["leads"].line.setFocus()
    QTest.keyClicks(ins.current.editors["leads"].line, "newsletter, vip")
    assert c.doc.node("start").get("leads") == ["newsletter", "vip"]


def test_findings_list_click_selects_and_centres(sample_canvas, qtbot):
    c = sample_canvas
    c.scene.clearSelection()
    c.scene.edges[c.doc.flow.edge_on("c3", "no")].setSelected(True)
    c.editor.actions["delete"].trigger()
    c.settle()
    lst = c.editor.findings.list
    row = next(i for i in range(lst.count()) if lst.item(i).data(256).code == "missing-no-path")
    c.view.centerOn(-2000, -2000)
    rect = lst.visualItemRect(lst.item(row))
    QTest.mouseClick(lst.viewport(), __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.MouseButton.LeftButton,
                     pos=rect.center())
    assert c.scene.selected_node_ids() == ["c3"]
    visible = c.view.mapToScene(c.view.viewport().rect()).boundingRect()
    assert visible.contains(c.scene.nodes["c3"].sceneBoundingRect().center())
    assert "1 error" in c.editor.findings.summary.text()

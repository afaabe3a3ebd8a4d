"""The split, the field check and the send window in the editor (SEMANTICS 10):
added from the palette, connected, configured in the inspector, undone and
redone, with their validation findings live on the canvas; and the campaign's
time zone and goal on the campaign page."""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtTest import QTest

from editor.item_parts import PORT_RADIUS
from tests.qt_helpers import choose


def undo_all(c):
    while c.doc.undo_stack.canUndo():
        c.editor.actions["undo"].trigger()


def caption(c, node_id):
    return "".join(c.scene.nodes[node_id]._text)


def rename(editor, row, name):
    editor.names[row].setText(name)
    editor.names[row].editingFinished.emit()


def test_split_branches_are_ports_that_never_overlap_and_follow_renames(canvas):
    c = canvas
    split = c.drop_from_palette("split", QPointF(300, 0))
    assert c.doc.node(split).settings == {"branches": [{"port": "a", "weight": 50}, {"port": "b", "weight": 50}]}
    assert caption(c, split) == "A 50% / B 50%"
    c.connect("start", "next", split)
    branches = c.editor.inspector.current.editors["branches"]
    branches.add_button.click()
    assert c.doc.node(split).ports == ("a", "b", "c")
    item = c.scene.nodes[split]
    ys = sorted(p.pos().y() for p in item.ports.values())
    assert all(b - a >= 2 * PORT_RADIUS + 8 for a, b in zip(ys, ys[1:], strict=False)), ys
    assert all(0 < y < item.height for y in ys)
    ends = {}
    for index, port in enumerate(("a", "b", "c")):
        ends[port] = c.drop_from_palette("end", QPointF(700, -160 + index * 160))
        c.connect(split, port, ends[port])
    c.settle()
    assert c.doc.findings == [], [f.message for f in c.doc.findings]
    c.click_node(split)
    # Weights change the shares; a rename carries the branch's edge along.
    branches.weights[0].setValue(100)
    assert caption(c, split) == "A 50% / B 25% / C 25%"
    rename(branches, 1, "Control")
    assert [b["port"] for b in c.doc.node(split).get("branches")] == ["a", "control", "c"]
    assert c.doc.flow.target(split, "control") == ends["b"] and c.doc.flow.edge_on(split, "b") is None
    assert c.scene.nodes[split].ports.keys() == {"a", "control", "c"}
    # A name that cannot be a port is refused with a sentence; nothing changes.
    rename(branches, 2, "a")
    assert "cannot name a branch" in branches.message.text()
    assert c.doc.node(split).ports == ("a", "control", "c")
    # Removing a branch removes its edge in the same step; undo brings both back.
    branches.removers[2].click()
    assert c.doc.node(split).ports == ("a", "control") and c.doc.flow.edge_on(split, "c") is None
    c.editor.actions["undo"].trigger()
    assert c.doc.flow.target(split, "c") == ends["c"] and len(branches.names) == 3
    c.editor.actions["undo"].trigger()
    assert c.doc.flow.target(split, "b") == ends["b"] and c.scene.nodes[split].ports.keys() == {"a", "b", "c"}
    c.editor.actions["redo"].trigger()
    assert c.doc.flow.target(split, "control") == ends["b"]
    c.editor.actions["redo"].trigger()  # the removal again
    assert c.doc.node(split).ports == ("a", "control")
    saved = c.json()
    texts = [c.doc.undo_stack.text(i) for i in range(c.doc.undo_stack.count())]
    undo_all(c)
    assert [n.id for n in c.doc.flow.nodes] == ["start"]
    while c.doc.undo_stack.canRedo():
        c.editor.actions["redo"].trigger()
    assert [c.doc.undo_stack.text(i) for i in range(c.doc.undo_stack.count())] == texts
    assert c.json() == saved


def test_split_findings_are_live_on_the_canvas(canvas):
    c = canvas
    split = c.drop_from_palette("split", QPointF(300, 0))
    c.connect("start", "next", split)
    c.settle()
    assert "dead-end" in c.codes_on(split)
    assert "has no edge on its A output" in c.scene.nodes[split].toolTip()
    from editor.commands import SetSetting
    c.doc.undo_stack.push(SetSetting(c.doc, split, "branches", [{"port": "a", "weight": 0}]))
    c.settle()
    messages = " ".join(f.message for f in c.scene.nodes[split].findings)
    assert "has 1 branches; a split has 2 to 5" in messages and "a weight is a whole number above zero" in messages
    assert "bad-setting" in c.codes_on(split)


def test_check_offers_the_lead_lists_fields_and_goes_yes_or_no_without_a_wait(canvas, tmp_path):
    c = canvas
    leads = tmp_path / "leads.csv"
    leads.write_text("email,first_name,country,plan\nana@example.com,Ana,FR,pro\n", encoding="utf-8")
    c.doc.set_lead_file(leads)
    check = c.drop_from_palette("check", QPointF(300, 0))
    c.connect("start", "next", check)
    page = c.editor.inspector.current
    field = page.editors["field"]
    assert field.offered() == ["country", "email", "first_name", "plan"]
    c.settle()
    assert "bad-setting" in c.codes_on(check)  # no field yet
    assert caption(c, check) == "Choose a field to check"
    field.combo.setCurrentIndex(field.combo.findText("country"))
    field.combo.activated.emit(field.combo.currentIndex())
    choose(page.editors["op"].combo, "in")
    page.editors["value"].line.setFocus()
    QTest.keyClicks(page.editors["value"].line, "FR, BE")
    node = c.doc.node(check)
    assert (node.get("field"), node.get("op"), node.get("value")) == ("country", "in", ["FR", "BE"])
    assert caption(c, check) == "country is one of FR, BE?"
    yes = c.drop_from_palette("end", QPointF(700, -100))
    no = c.drop_from_palette("end", QPointF(700, 100))
    c.connect(check, "yes", yes)
    c.connect(check, "no", no)  # no wait needed after a check
    c.settle()
    assert c.doc.findings == [], [f.message for f in c.doc.findings]
    c.click_node(check)
    choose(page.editors["op"].combo, "exists")
    assert not page.editors["value"].widget.isVisibleTo(page)
    assert caption(c, check) == "country is set?"
    c.editor.actions["undo"].trigger()
    assert page.editors["value"].widget.isVisibleTo(page) and page.editors["value"].line.text() == "FR, BE"
    undo_all(c)
    assert [n.id for n in c.doc.flow.nodes] == ["start"]


def test_window_days_hours_and_zones_with_the_campaign_zone(canvas, tmp_path):
    c = canvas
    window = c.drop_from_palette("window", QPointF(300, 0))
    assert caption(c, window) == "Mon–Fri 09:00–17:00 (UTC)"
    page = c.editor.inspector.current
    page.editors["days"].buttons["sat"].click()
    assert c.doc.node(window).get("days") == ["mon", "tue", "wed", "thu", "fri", "sat"]
    line = page.editors["from"].line
    line.setFocus()
    line.selectAll()
    QTest.keyClicks(line, "18:00")
    c.settle()
    assert "never open" in " ".join(f.message for f in c.scene.nodes[window].findings)
    line.selectAll()
    QTest.keyClicks(line, "08:30")
    zone = page.editors["timezone"].box
    zone.lineEdit().setFocus()
    QTest.keyClicks(zone.lineEdit(), "Mars/Olympus")
    zone.lineEdit().editingFinished.emit()
    c.settle()
    assert "does not exist" in " ".join(f.message for f in c.scene.nodes[window].findings)
    zone.lineEdit().selectAll()
    QTest.keyClicks(zone.lineEdit(), "Europe/Paris")
    zone.lineEdit().editingFinished.emit()
    assert c.doc.node(window).get("timezone") == "Europe/Paris"
    assert caption(c, window) == "Mon–Sat 08:30–17:00 (Europe/Paris)".replace("Mon–Sat", "Mon, Tue, Wed, Thu, Fri, Sat")
    assert "first_name" in page.editors["timezone_field"].offered()
    c.settle()
    assert "bad-setting" not in c.codes_on(window)
    undo_all(c)
    assert [n.id for n in c.doc.flow.nodes] == ["start"]


def test_campaign_page_sets_the_time_zone_and_goal(canvas):
    c = canvas
    ins = c.editor.inspector
    window = c.drop_from_palette("window", QPointF(300, 0))
    c.scene.clearSelection()
    assert ins.current is ins.campaign
    ins.campaign.timezone.lineEdit().setFocus()
    QTest.keyClicks(ins.campaign.timezone.lineEdit(), "America/New_York")
    ins.campaign.timezone.lineEdit().editingFinished.emit()
    assert c.doc.flow.extra["timezone"] == "America/New_York"
    c.settle()
    assert caption(c, window).endswith("(America/New_York)")
    ins.campaign.goal.setFocus()
    QTest.keyClicks(ins.campaign.goal, "ftp://shop.example/thanks")
    c.settle()
    assert any("goal must be" in f.message for f in c.doc.findings)
    ins.campaign.goal.selectAll()
    QTest.keyClicks(ins.campaign.goal, "https://shop.example/thanks")
    assert c.doc.flow.extra["goal"] == {"click": "https://shop.example/thanks"}
    c.settle()
    assert not any("goal" in f.message for f in c.doc.findings)
    c.editor.actions["undo"].trigger()  # the goal typed in one go is one step
    assert "goal" not in c.doc.flow.extra and ins.campaign.goal.text() == ""
    c.editor.actions["undo"].trigger()
    c.settle()
    assert "timezone" not in c.doc.flow.extra and caption(c, window).endswith("(UTC)")


def test_a_window_only_yes_paths_reach_is_warned_on_the_canvas(canvas):
    """SEMANTICS 10: ``wait-on-yes-path`` also for a window that only YES paths reach."""
    c = canvas
    email = c.drop_from_palette("email", QPointF(260, 0))
    condition = c.drop_from_palette("condition", QPointF(520, 0))
    window = c.drop_from_palette("window", QPointF(780, -120))
    wait = c.drop_from_palette("wait", QPointF(780, 120))
    ends = [c.drop_from_palette("end", QPointF(1040, y)) for y in (-120, 120)]
    for source, port, target in (("start", "next", email), (email, "next", condition), (condition, "yes", window),
                                 (condition, "no", wait), (window, "next", ends[0]), (wait, "next", ends[1])):
        c.connect(source, port, target)
    c.settle()
    assert c.codes_on(window) == {"wait-on-yes-path"}
    assert "wait-on-yes-path" in c.scene.nodes[window].toolTip()
    assert c.codes_on(wait) == set()  # the NO path's wait is the condition's timeout, not a warning


def test_campaign_page_sets_who_the_campaign_is_sent_from(canvas):
    c = canvas
    ins = c.editor.inspector
    c.scene.clearSelection()
    assert ins.current is ins.campaign
    assert "Settings' sender is used" in ins.campaign.sender_hint.text()
    QTest.keyClicks(ins.campaign.sender["name"], "Bakery Bloom")
    QTest.keyClicks(ins.campaign.sender["address"], "news@bakery")
    c.settle()
    assert "news@bakery" in ins.campaign.sender_hint.text()  # not an address yet: said on the page
    assert any(f.code == "bad-setting" and f.node is None for f in c.doc.findings)
    QTest.keyClicks(ins.campaign.sender["address"], ".example")
    c.settle()
    assert c.doc.flow.extra["sender"] == {"name": "Bakery Bloom", "address": "news@bakery.example"}
    assert ins.campaign.sender_hint.text() == "Every email of the campaign is sent from this address."
    assert not any(f.code == "bad-setting" for f in c.doc.findings)
    undo_all(c)
    assert "sender" not in c.doc.flow.extra and ins.campaign.sender["name"].text() == ""

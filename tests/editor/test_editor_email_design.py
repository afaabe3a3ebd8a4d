"""The inspector for emails: merge fields from the lead list, the real renderer's
preview as a chosen lead at two widths, the body format and the campaign's theme."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.delivery.render import EmailContent, render_content


def choose(combo, text_or_data):
    index = combo.findData(text_or_data)
    if index < 0:
        index = combo.findText(text_or_data, Qt.MatchFlag.MatchContains)
    assert index >= 0, f"{text_or_data!r} is not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def lead_file(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("email,first_name,last_name,company,plan\n"
                    "zoe@example.com,Zoe,King,Kite Shop,gold\n"
                    "yan@example.com,Yan,Lee,Yarn Co,silver\n", encoding="utf-8")
    return path


def test_a_misspelt_field_is_warned_about_once_a_lead_list_is_loaded(sample_canvas, tmp_path):
    c = sample_canvas
    ins = c.editor.inspector
    c.click_node("e2")
    ins.current.subject.setFocus()
    ins.current.subject.selectAll()
    QTest.keyClicks(ins.current.subject, "Thanks {{ frist_name }}")
    c.doc.revalidate()
    assert "unknown-field" not in c.codes_on("e2")  # no list yet: nothing to compare with
    c.doc.set_lead_file(lead_file(tmp_path))
    c.doc.revalidate()
    assert "unknown-field" in c.codes_on("e2")
    assert "Did you mean first_name?" in ins.problems.text()
    c.doc.set_lead_file(None)
    assert "unknown-field" not in c.codes_on("e2")


def test_insert_field_offers_the_list_columns_and_types_the_tag_at_the_cursor(sample_canvas, tmp_path):
    c = sample_canvas
    ins = c.editor.inspector
    c.doc.set_lead_file(lead_file(tmp_path))
    c.click_node("e2")
    offered = [ins.current.insert_field.itemData(i) for i in range(1, ins.current.insert_field.count())]
    assert offered == ["company", "email", "first_name", "last_name", "plan"]
    ins.current.html.setFocus()
    ins.current.html.moveCursor(ins.current.html.textCursor().MoveOperation.Start)
    QTest.keyClicks(ins.current.html, "x")  # the cursor is in the body now
    choose(ins.current.insert_field, "plan")
    assert c.doc.node("e2").get("html").startswith("x{{ plan }}<p>Your coupon")
    assert ins.current.insert_field.currentIndex() == 0
    ins.current.subject.setFocus()
    ins.current.subject.end(False)
    choose(ins.current.insert_field, "first_name")
    assert c.doc.node("e2").get("subject") == "Thanks for your interest{{ first_name }}"


def test_the_preview_is_the_sent_email_for_the_lead_chosen(sample_canvas, tmp_path):
    c = sample_canvas
    ins = c.editor.inspector
    c.click_node("e1")
    # Without a list: the sample lead, through the real renderer (Markdown, theme, footer).
    assert ins.current.preview_lead.count() == 1 and "Ana" in ins.current.preview_lead.currentText()
    assert ins.current.preview_subject.text() == "<b>Subject:</b> Hi Ana, our spring offer"
    shown = ins.current.preview.toPlainText()
    assert "Our spring offer is live" in shown and "**" not in shown
    assert "Spring Shop, 12 Market Street" in shown and "Unsubscribe" in shown
    c.doc.set_lead_file(lead_file(tmp_path))
    assert [ins.current.preview_lead.itemText(i) for i in range(ins.current.preview_lead.count())] == [
        "Zoe King <zoe@example.com>", "Yan Lee <yan@example.com>"]
    assert "Hi Zoe," in ins.current.preview.toPlainText()
    choose(ins.current.preview_lead, "Yan Lee")
    assert "Hi Yan," in ins.current.preview.toPlainText()
    assert ins.current.preview_subject.text() == "<b>Subject:</b> Hi Yan, our spring offer"


def test_a_template_that_sends_fine_previews_fine(sample_canvas):
    c = sample_canvas
    ins = c.editor.inspector
    body = '<p>Hello from {{ profile.city | default("your town") }}, {{ nickname }}!</p>'
    content = EmailContent("Hi", body)
    assert render_content(content, {"first_name": "Ana"}, "ana@example.com").errors == []  # it sends
    c.click_node("e3")
    ins.current.html.setFocus()
    ins.current.html.selectAll()
    QTest.keyClicks(ins.current.html, body)
    shown = ins.current.preview.toPlainText()
    assert "Hello from your town, !" in shown
    assert "cannot be rendered" not in shown and "UndefinedError" not in shown


def test_the_body_format_switch_renders_markdown(sample_canvas):
    c = sample_canvas
    ins = c.editor.inspector
    c.click_node("e3")
    ins.current.html.setFocus()
    ins.current.html.selectAll()
    QTest.keyClicks(ins.current.html, "Last **chance**: [see it](https://shop.example/offer)")
    assert "**chance**" in ins.current.preview.toPlainText()  # HTML: the stars are text
    choose(ins.current.body_format, "markdown")
    assert c.doc.node("e3").get("format") == "markdown"
    assert ins.current.body_label.text() == "Markdown body"
    assert "**" not in ins.current.preview.toPlainText() and "Last chance: see it" in ins.current.preview.toPlainText()
    assert 'font-weight:700' in ins.current.preview.toHtml().replace(" ", "")
    c.doc.revalidate()
    assert c.codes_on("c3") == set()  # the click condition still finds the link
    c.editor.actions["undo"].trigger()
    assert "format" not in c.doc.node("e3").settings
    assert ins.current.body_format.currentData() == "html"


def test_the_preview_has_a_desktop_and_a_phone_width(sample_canvas):
    c = sample_canvas
    ins = c.editor.inspector
    c.click_node("e1")
    assert ins.current.preview.lineWrapColumnOrWidth() == 640
    assert 'width="600"' in ins.current.preview.toHtml()
    phone = ins.current.preview_widths.button(360)
    QTest.mouseClick(phone, Qt.MouseButton.LeftButton)
    assert ins.current.preview.lineWrapColumnOrWidth() == 360
    assert 'width="600"' not in ins.current.preview.toHtml()
    assert "Hi Ana," in ins.current.preview.toPlainText()


def test_the_campaign_page_edits_the_theme_with_undo_and_saves_it(sample_canvas, tmp_path):
    c = sample_canvas
    ins = c.editor.inspector
    ins.set_node(None)
    assert ins.campaign.theme_color.text() == "#0F766E"
    assert ins.campaign.theme_address.toPlainText().startswith("Spring Shop")
    ins.campaign.theme_color.setFocus()
    ins.campaign.theme_color.selectAll()
    QTest.keyClicks(ins.campaign.theme_color, "#B42318")
    assert c.doc.flow.extra["theme"]["color"] == "#B42318"
    ins.campaign.theme_address.setFocus()
    ins.campaign.theme_address.selectAll()
    QTest.keyClick(ins.campaign.theme_address, Qt.Key.Key_Delete)
    assert "address" not in c.doc.flow.extra["theme"]
    assert "postal address" in ins.campaign.theme_hint.text()
    QTest.keyClicks(ins.campaign.theme_address, "1 Kite Street, Leeds")
    ins.campaign.theme_logo.setFocus()
    QTest.keyClicks(ins.campaign.theme_logo, "ftp://logo")
    assert "https://" in ins.campaign.theme_hint.text()
    path = tmp_path / "designed.json"
    assert c.window.save_to(path)
    saved = json.loads(path.read_text(encoding="utf-8"))["theme"]
    assert saved["color"] == "#B42318" and saved["address"] == "1 Kite Street, Leeds"
    c.click_node("e1")
    assert "1 Kite Street, Leeds" in ins.current.preview.toPlainText()
    assert "#b42318" in ins.current.preview.toHtml().lower()
    ins.set_node(None)
    while c.doc.undo_stack.canUndo():
        c.editor.actions["undo"].trigger()
    assert ins.campaign.theme_color.text() == "#0F766E"
    assert c.doc.flow.extra["theme"]["address"].startswith("Spring Shop")


def test_a_large_lead_list_gives_its_columns_and_first_leads(sample_canvas, tmp_path):
    c = sample_canvas
    path = tmp_path / "big.csv"
    path.write_text("email,first_name,tier\n" + "".join(f"lead{i}@example.com,Lead{i},t{i % 3}\n"
                                                        for i in range(20000)), encoding="utf-8")
    assert path.stat().st_size > 200_000
    c.doc.set_lead_file(path)
    assert c.doc.lead_columns == ("email", "first_name", "tier")
    assert len(c.doc.lead_samples) == 200
    assert c.doc.lead_samples[0] == ("lead0@example.com", {"email": "lead0@example.com", "first_name": "Lead0",
                                                           "tier": "t0"})
    c.click_node("e1")
    assert "Hi Lead0," in c.editor.inspector.current.preview.toPlainText()


def test_the_preview_pops_out_at_full_desktop_width_and_follows_edits(sample_canvas, qtbot):
    c = sample_canvas
    ins = c.editor.inspector
    c.click_node("e1")
    QTest.mouseClick(ins.current.pop_out, Qt.MouseButton.LeftButton)
    window = ins.current.preview_window
    qtbot.waitExposed(window)
    assert window.width() >= 640 + 40 and window.browser.lineWrapColumnOrWidth() == 640
    assert "Hi Ana," in window.browser.toPlainText() and "Hi Ana, our spring offer" in window.subject.text()
    c.click_node("e2")
    assert "SPRING10" in window.browser.toPlainText()
    QTest.mouseClick(ins.current.preview_widths.button(360), Qt.MouseButton.LeftButton)
    assert window.browser.lineWrapColumnOrWidth() == 360
    window.close()

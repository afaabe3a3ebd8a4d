"""Render the sample flow to a PNG (kept in artifacts/, looked at, not compared)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
FLOWS = ROOT / "resources" / "flows"


def test_render_sample_flow_to_png(sample_canvas):
    c = sample_canvas
    c.settle()
    rect = c.scene.content_rect().adjusted(-20, -20, 20, 20)
    image = QImage(int(rect.width() * 2), int(rect.height() * 2), QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(2)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    c.scene.render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
    painter.end()
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / "sample-flow.png"
    assert image.save(str(out))
    assert out.stat().st_size > 20_000
    # Something was drawn in each node type's colour (icons), and in YES green / NO orange.
    seen = set()
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            seen.add(image.pixelColor(x, y).name())
    for color in ("#2e6be6", "#7a5af8", "#ca8504", "#0e9384", "#16a34a", "#e8590c"):
        assert color in seen, color


def test_window_screenshot(sample_window, qtbot):
    """The editor as it opens on a 1366x768 laptop (less the frame and panel), c1 selected."""
    sample_window.resize(1350, 728)
    qtbot.wait(20)
    sample_window.editor.view.zoom_to_fit(readable=True)
    sample_window.editor.scene.select_nodes(["c1"])
    qtbot.wait(20)
    pixmap = sample_window.grab()
    ARTIFACTS.mkdir(exist_ok=True)
    assert pixmap.save(str(ARTIFACTS / "editor.png"))
    assert pixmap.toImage().pixelColor(5, 5) != QColor("black")
    if os.environ.get("MAILBRANCH_UPDATE_SCREENSHOTS"):  # the README's picture, refreshed on request
        shutil.copyfile(ARTIFACTS / "editor.png", SCREENSHOTS / "editor.png")


def test_sample_captions_are_whole_and_free_of_template_syntax(sample_canvas):
    """Every step of the sample reads in full on the canvas, with fields shown as ‹name›."""
    for node_id, item in sample_canvas.scene.nodes.items():
        lines = item.caption_lines()
        text = " ".join(lines)
        assert len(lines) <= 2 and "…" not in text, (node_id, lines)
        assert "{" not in text and "}" not in text and "%" not in text, (node_id, lines)
    assert sample_canvas.scene.nodes["c1"].caption_lines() == ["Opened Hi ‹first_name›,", "our spring offer?"]


def test_a_caption_too_long_keeps_its_question_mark(canvas):
    from editor.items import wrap_runs

    runs = [("Opened ", "normal"), ("a subject far too long to fit on two lines of a step on the canvas", "emphasis"),
            ("?", "normal")]
    lines = wrap_runs(runs, 148, 2)
    assert len(lines) == 2
    last = "".join(text for text, _kind in lines[1])
    assert last.endswith("…?"), last


def test_readable_template_hides_all_syntax():
    from editor.summary import readable_template

    assert readable_template('Hi {{ first_name | default("there") }}!') == "Hi ‹first_name›!"
    assert readable_template("{% if vip %}VIP {% endif %}{{ lead.city }} {{ 2 * n }}{# note #}") == \
        "VIP ‹city› ‹…›"


def test_flows_open_readable_and_start_at_the_beginning(window, qtbot):
    """Too wide for the canvas at 80%: it opens at 80%, showing where leads enter."""
    window.resize(1000, 700)
    qtbot.wait(20)
    assert window.open_path(FLOWS / "sample.json")
    qtbot.waitUntil(lambda: not window._fit_pending, timeout=2000)
    view = window.editor.view
    assert view.zoom() == pytest.approx(0.8)
    start = view.mapFromScene(window.editor.scene.nodes["start"].sceneBoundingRect().center())
    assert view.viewport().rect().contains(start), "the Start step is on screen"
    window.editor.view.zoom_to_fit()
    assert view.zoom() < 0.8, "Zoom to Fit (asked for) still shows the whole flow"


def _dark_pixels(image, x0, y0, x1, y1) -> int:
    return sum(1 for y in range(y0, y1) for x in range(x0, x1)
               if max(image.pixelColor(x, y).red(), image.pixelColor(x, y).green(),
                      image.pixelColor(x, y).blue()) < 130)


def test_drop_downs_and_spin_boxes_show_their_arrows(qtbot):
    """Styling these buttons removes Qt's arrows: the style sheet must draw them again."""
    from PySide6.QtWidgets import QComboBox, QSpinBox, QVBoxLayout, QWidget

    from editor import style

    host = QWidget()
    host.setStyleSheet(style.stylesheet("light"))
    layout = QVBoxLayout(host)
    combo, spin = QComboBox(), QSpinBox()
    combo.addItems(["Opened the email", "Clicked a link"])
    spin.setRange(0, 10)
    spin.setValue(5)  # both directions possible: both arrows drawn in full
    layout.addWidget(combo)
    layout.addWidget(spin)
    qtbot.addWidget(host)
    host.resize(240, 120)
    host.show()
    qtbot.waitExposed(host)
    for widget in (combo, spin):
        image = widget.grab().toImage()
        w, h = image.width(), image.height()
        if widget is combo:
            assert _dark_pixels(image, w - 24, 2, w - 2, h - 2) >= 6, "the drop-down has its arrow"
        else:
            assert _dark_pixels(image, w - 22, 2, w - 2, h // 2) >= 4, "the spin box has its up arrow"
            assert _dark_pixels(image, w - 22, h // 2, w - 2, h - 2) >= 4, "and its down arrow"

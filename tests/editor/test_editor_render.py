"""Render the sample flow to a PNG (kept in artifacts/, looked at, not compared)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


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
    sample_window.editor.reveal_node("e1")
    sample_window.editor.view.zoom_to_fit()
    qtbot.wait(20)
    pixmap = sample_window.grab()
    ARTIFACTS.mkdir(exist_ok=True)
    assert pixmap.save(str(ARTIFACTS / "editor.png"))
    assert pixmap.toImage().pixelColor(5, 5) != QColor("black")

"""Editor tests run offscreen; set the platform before anything imports Qt.

This directory has no ``__init__.py`` on purpose: as a package named
``editor`` it would shadow the real ``editor`` package under pytest's default
import mode, so test modules carry an ``test_editor_`` prefix instead.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from engine.flow.fileformat import dumps_flow  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "resources" / "flows"
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture
def window(qtbot, monkeypatch, tmp_path):
    """A new editor window; it never asks questions unless a test answers them."""
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    from editor.window import DISCARD, EditorWindow

    win = EditorWindow()
    monkeypatch.setattr(win, "ask_save_changes", lambda: DISCARD)
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    # A tooltip outliving its window would point at a deleted widget.
    from PySide6.QtWidgets import QToolTip

    QToolTip.hideText()


@pytest.fixture
def sample_window(window):
    assert window.open_path(FLOWS / "sample.json")
    window.editor.view.reset_zoom()
    return window


class Canvas:
    """Drives the canvas the way a user does: mouse on the view's viewport."""

    def __init__(self, window, qtbot) -> None:
        self.window = window
        self.editor = window.editor
        self.view = window.editor.view
        self.scene = window.editor.scene
        self.doc = window.editor.document
        self.qtbot = qtbot

    def json(self) -> str:
        return dumps_flow(self.doc.flow)

    def to_view(self, scene_pos: QPointF) -> QPoint:
        return self.view.mapFromScene(scene_pos)

    def show(self, *node_ids: str) -> None:
        """Scroll so these nodes are on screen (as a user would before dragging)."""
        rect = None
        for node_id in node_ids:
            r = self.scene.nodes[node_id].sceneBoundingRect()
            rect = r if rect is None else rect.united(r)
        self.view.ensureVisible(rect, 20, 20)

    def node_centre(self, node_id: str) -> QPoint:
        item = self.scene.nodes[node_id]
        return self.to_view(item.mapToScene(item.node_rect().center()))

    def port_pos(self, node_id: str, port: str = "next") -> QPoint:
        return self.to_view(self.scene.nodes[node_id].output_scene_pos(port))

    def drag(self, start: QPoint, end: QPoint, steps: int = 6, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        viewport = self.view.viewport()
        QTest.mouseMove(viewport, start)
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, modifiers, start)
        for i in range(1, steps + 1):
            point = start + (end - start) * (i / steps)
            QTest.mouseMove(viewport, point)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifiers, end)

    def connect(self, source: str, port: str, target: str) -> None:
        self.show(source, target)
        self.drag(self.port_pos(source, port), self.node_centre(target))

    def click_node(self, node_id: str) -> None:
        self.show(node_id)
        point = self.node_centre(node_id)
        QTest.mouseClick(self.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)

    def drop_from_palette(self, node_type: str, scene_pos: QPointF) -> str:
        """Drag a palette entry onto the canvas (the drop events a real drag delivers)."""
        from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
        from PySide6.QtWidgets import QApplication

        palette = self.editor.palette
        mime = palette.mimeData([palette.item_for(node_type)])
        self.view.ensureVisible(scene_pos.x() - 10, scene_pos.y() - 10, 20, 20)
        pos = QPointF(self.to_view(scene_pos))
        viewport = self.view.viewport()
        before = set(self.scene.nodes)
        action = Qt.DropAction.CopyAction
        buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        QApplication.sendEvent(viewport, QDragEnterEvent(pos.toPoint(), action, mime, buttons, mods))
        QApplication.sendEvent(viewport, QDragMoveEvent(pos.toPoint(), action, mime, buttons, mods))
        QApplication.sendEvent(viewport, QDropEvent(pos, action, mime, buttons, mods))
        added = set(self.scene.nodes) - before
        assert len(added) == 1, "the drop did not add a step"
        return added.pop()

    def add_by_double_click(self, node_type: str) -> str:
        palette = self.editor.palette
        item = palette.item_for(node_type)
        rect = palette.visualItemRect(item)
        before = set(self.scene.nodes)
        # A real double-click is a click, then a second press Qt reports as a double-click.
        QTest.mouseClick(palette.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         rect.center())
        QTest.mouseDClick(palette.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                          rect.center())
        added = set(self.scene.nodes) - before
        assert len(added) == 1, "double-clicking the palette did not add a step"
        return added.pop()

    def codes_on(self, node_id: str) -> set[str]:
        return {f.code for f in self.scene.nodes[node_id].findings}

    def settle(self) -> None:
        """Wait for the debounced validation to run, as a user waiting a moment would."""
        self.qtbot.waitUntil(lambda: not self.doc.validation_pending, timeout=2000)


@pytest.fixture
def canvas(window, qtbot):
    return Canvas(window, qtbot)


@pytest.fixture
def sample_canvas(sample_window, qtbot):
    return Canvas(sample_window, qtbot)

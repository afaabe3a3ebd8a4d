"""``FlowEditor``: the canvas, palette, inspector and findings list over one
document, with the edit and view actions, ready to embed.

``EditorWindow`` puts these in a main window; the app shell can do the same
with its own window and reuse ``FlowEditor.actions``.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QWidget

from editor import clipboard, style
from editor.commands import MoveNodes, delete_command
from editor.document import FlowDocument
from editor.findings import FindingsList
from editor.inspector import Inspector
from editor.items import NodeItem
from editor.layout import layered_positions
from editor.node_views import view_for
from editor.palette import Palette
from editor.scene import FlowScene
from editor.view import FlowView
from engine.flow.model import Flow


class FlowEditor(QObject):
    #: A short message for a status bar (a refused edge, a paste...).
    message = Signal(str)

    def __init__(self, flow: Optional[Flow] = None, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.document = FlowDocument(flow, self)
        self.scene = FlowScene(self.document, self)
        self.view = FlowView(self.scene)
        self.palette = Palette()
        self.inspector = Inspector(self.document)
        self.findings = FindingsList(self.document)
        self._copied: Optional[dict[str, Any]] = None

        self.palette.addRequested.connect(self.add_at_centre)
        self.view.nodeDropped.connect(lambda _id: self.view.setFocus())
        self.scene.selectionChanged.connect(self._selection_changed)
        self.scene.refused.connect(self.message.emit)
        self.scene.nodeActivated.connect(lambda _id: self.inspector.setFocus())
        self.findings.nodeRequested.connect(self.reveal_node)
        self.document.reset.connect(self._selection_changed)
        self.actions: dict[str, QAction] = {}
        self._build_actions()

    # -- actions ---------------------------------------------------------
    def _action(self, name: str, text: str, slot: Any, keys: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if keys is not None:
            if isinstance(keys, QKeySequence.StandardKey):
                action.setShortcuts(keys)
            else:
                action.setShortcuts(keys if isinstance(keys, list) else [QKeySequence(keys)])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        self.actions[name] = action
        return action

    def _build_actions(self) -> None:
        stack = self.document.undo_stack
        undo = stack.createUndoAction(self, "&Undo")
        undo.setShortcuts(QKeySequence.StandardKey.Undo)
        redo = stack.createRedoAction(self, "&Redo")
        redo.setShortcuts(QKeySequence.StandardKey.Redo)
        self.actions["undo"] = undo
        self.actions["redo"] = redo
        sk = QKeySequence.StandardKey
        self._action("cut", "Cu&t", self.cut, sk.Cut, "Copy the selected steps and delete them")
        self._action("copy", "&Copy", self.copy, sk.Copy, "Copy the selected steps and the edges between them")
        self._action("paste", "&Paste", self.paste, sk.Paste, "Paste steps with fresh ids")
        self._action("duplicate", "D&uplicate", self.duplicate, QKeySequence("Ctrl+D"),
                     "Duplicate the selected steps and the edges between them")
        self._action("delete", "&Delete", self.delete_selection,
                     [QKeySequence(QKeySequence.StandardKey.Delete), QKeySequence(Qt.Key.Key_Backspace)],
                     "Delete the selected steps and edges")
        self._action("select_all", "Select &All", self.select_all, sk.SelectAll)
        self._action("zoom_in", "Zoom &In", self.view.zoom_in, sk.ZoomIn)
        self._action("zoom_out", "Zoom &Out", self.view.zoom_out, sk.ZoomOut)
        self._action("zoom_reset", "&Actual Size", self.view.reset_zoom, QKeySequence("Ctrl+0"))
        self._action("zoom_fit", "Zoom to &Fit", self.view.zoom_to_fit, QKeySequence("Ctrl+1"),
                     "Show the whole flow")
        self._action("arrange", "&Tidy Up Layout", self.arrange, QKeySequence("Ctrl+Shift+L"),
                     "Lay the flow out left to right (undoable)")
        snap = self._action("snap", "&Snap to Grid", self.set_snap, tip="Snap steps to the grid when moving")
        snap.setCheckable(True)
        snap.setChecked(self.scene.snap_to_grid)
        stack.canUndoChanged.connect(lambda _v: None)
        self.scene.selectionChanged.connect(self._update_enabled)
        self._update_enabled()

    def install_actions(self, widget: QWidget) -> None:
        """Make the shortcuts work anywhere in ``widget``'s window."""
        for action in self.actions.values():
            widget.addAction(action)

    def _update_enabled(self) -> None:
        try:
            has = bool(self.scene.selectedItems())
        except RuntimeError:  # the scene is being destroyed
            return
        nodes = bool(self.scene.selected_node_ids())
        for name in ("copy", "cut", "duplicate"):
            self.actions[name].setEnabled(nodes)
        self.actions["delete"].setEnabled(has)

    def set_snap(self, on: bool) -> None:
        self.scene.snap_to_grid = bool(on)

    # -- selection -------------------------------------------------------
    def _selection_changed(self) -> None:
        try:
            ids = self.scene.selected_node_ids()
        except RuntimeError:
            return
        self.inspector.set_node(ids[0] if len(ids) == 1 else None, count=len(ids))

    def select_all(self) -> None:
        for item in self.scene.items():
            if item.flags() & item.GraphicsItemFlag.ItemIsSelectable:
                item.setSelected(True)

    def reveal_node(self, node_id: str) -> None:
        """Select a node and bring it to the middle of the view."""
        self.scene.select_nodes([node_id])
        self.view.centre_on_node(node_id)

    # -- adding ----------------------------------------------------------
    def add_at_centre(self, node_type: str) -> str:
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        view = view_for(node_type)
        node_id = self.scene.add_node(node_type, QPointF(centre.x() - view.width / 2,
                                                         centre.y() - style.NODE_HEIGHT / 2))
        self.message.emit(f"Added {view.title} “{node_id}”.")
        return node_id

    # -- clipboard -------------------------------------------------------
    def copy(self) -> bool:
        ids = self.scene.selected_node_ids()
        if not ids:
            return False
        data = clipboard.selection_data(self.document.flow, ids)
        self._copied = data
        clipboard.put_on_clipboard(data)
        self.message.emit(f"Copied {len(ids)} step{'s' if len(ids) != 1 else ''}.")
        return True

    def cut(self) -> None:
        if self.copy():
            self.delete_selection(text="Cut")

    def paste(self) -> list[str]:
        data = clipboard.from_mime(QGuiApplication.clipboard().mimeData()) or self._copied
        if data is None:
            return []
        return self._paste(data, "Paste")

    def duplicate(self) -> list[str]:
        ids = self.scene.selected_node_ids()
        if not ids:
            return []
        return self._paste(clipboard.selection_data(self.document.flow, ids), "Duplicate")

    def _paste(self, data: dict[str, Any], text: str) -> list[str]:
        command, ids = clipboard.paste_command(self.document, data, text=text)
        if command is None:
            return []
        self.document.undo_stack.push(command)
        self.scene.select_nodes(ids)
        # The next paste of the same data lands a little further along.
        for raw in data.get("nodes", []):
            position = raw.get("position")
            if isinstance(position, list) and len(position) == 2:
                raw["position"] = [position[0] + clipboard.OFFSET, position[1] + clipboard.OFFSET]
        return ids

    def delete_selection(self, checked: bool = False, text: str = "") -> None:
        command = delete_command(self.document, self.scene.selected_node_ids(), self.scene.selected_edges())
        if command is not None:
            if text:
                command.setText(text)
            self.document.undo_stack.push(command)

    # -- layout ----------------------------------------------------------
    def arrange(self) -> None:
        positions = layered_positions(self.document.flow)
        moves = {}
        for node_id, new in positions.items():
            old = self.document.node(node_id).extra.get("position")
            if old != new:
                moves[node_id] = (old, new)
        if moves:
            self.document.undo_stack.push(MoveNodes(self.document, moves, text="Tidy up layout"))
            self.view.zoom_to_fit()

    def node_item(self, node_id: str) -> NodeItem:
        return self.scene.nodes[node_id]

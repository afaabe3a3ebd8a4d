"""The palette of step types: drag one onto the canvas, or double-click it
to add it at the centre of the view. It lists every type the registry holds
(``engine.nodes``), with its view's icon and title."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem

from editor import style
from editor.node_views import view_for
from engine.nodes.registry import node_types

NODE_TYPE_MIME = "application/x-mailbranch-node-type"


class Palette(QListWidget):
    #: Add a step of this type at the centre of the view.
    addRequested = Signal(str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("Palette")
        self.setIconSize(QSize(28, 28))
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setSpacing(2)
        self.setUniformItemSizes(True)
        for kind in node_types():  # every registered type, in its palette order
            view = view_for(kind.name)
            item = QListWidgetItem(style.type_icon(view.icon), view.title)
            item.setData(Qt.ItemDataRole.UserRole, kind.name)
            item.setToolTip(f"{kind.description}\nDrag onto the canvas, or double-click to add.")
            item.setSizeHint(QSize(150, 40))
            self.addItem(item)
        self.itemDoubleClicked.connect(self._activated)

    def item_for(self, node_type: str) -> QListWidgetItem:
        for row in range(self.count()):
            item = self.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == node_type:
                return item
        raise KeyError(node_type)

    def _activated(self, item: QListWidgetItem) -> None:
        self.addRequested.emit(item.data(Qt.ItemDataRole.UserRole))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentItem() is not None:
            self._activated(self.currentItem())
            event.accept()
            return
        super().keyPressEvent(event)

    def mimeData(self, items: list[QListWidgetItem]) -> QMimeData:
        mime = QMimeData()
        if items:
            mime.setData(NODE_TYPE_MIME, str(items[0].data(Qt.ItemDataRole.UserRole)).encode("utf-8"))
        return mime

    def mimeTypes(self) -> list[str]:
        return [NODE_TYPE_MIME]

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

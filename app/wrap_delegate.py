"""A tree column whose long text wraps onto more lines instead of being cut.

``QTreeView.setWordWrap`` wraps every column and sizes rows for one line,
so a long state such as "waiting for the window (opens Mon 09:00 local)"
ends in "…". This delegate asks for the height the wrapped text needs at the
column's current width, and the tree lays its rows out again when a column
is resized.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QTreeView

#: Room the style keeps around a cell's text.
PADDING = 8


class WrapDelegate(QStyledItemDelegate):
    def __init__(self, tree: QTreeView) -> None:
        super().__init__(tree)
        self.tree = tree
        tree.header().sectionResized.connect(lambda *_: tree.scheduleDelayedItemsLayout())

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        """Wrap this column's text only (the tree's own word wrap would break addresses at dots)."""
        super().initStyleOption(option, index)
        option.features |= QStyleOptionViewItem.ViewItemFeature.WrapText

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        size = super().sizeHint(option, index)
        cell = QStyleOptionViewItem(option)
        self.initStyleOption(cell, index)
        width = max(20, self.tree.columnWidth(index.column()) - PADDING)
        text = cell.fontMetrics.boundingRect(0, 0, width, 10_000, Qt.TextFlag.TextWordWrap, cell.text)
        return QSize(size.width(), max(size.height(), text.height() + 4))


def wrap_column(tree: QTreeView, column: int) -> WrapDelegate:
    """Let ``column`` of ``tree`` wrap its text; returns the delegate (the tree owns it)."""
    delegate = WrapDelegate(tree)
    tree.setItemDelegateForColumn(column, delegate)
    return delegate

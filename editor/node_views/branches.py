"""A split's branches: a name and a weight per row, their share, add and remove.

A branch's name is its output port, so renaming a connected branch moves its
edge to the new port and removing one removes its edge, each in the same
undo step as the setting. Names are applied when the field is left (not per
keystroke, which would rename the port letter by letter); weights apply as
they change and merge into one undo step.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.commands import Connect, Disconnect, Macro, SetSetting
from editor.node_views.fields import FieldEditor
from engine.nodes.split import BRANCH_NAME, MAX_BRANCHES, MIN_BRANCHES


def _rows(value: Any) -> list[dict]:
    return [dict(b) for b in value if isinstance(b, dict)] if isinstance(value, list) else []


class BranchesEditor(FieldEditor):
    def build(self) -> QWidget:
        box = QWidget()
        outer = QVBoxLayout(box)
        outer.setContentsMargins(0, 0, 0, 0)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(6)
        outer.addWidget(self.grid_host)
        self.add_button = QPushButton("Add branch")
        self.add_button.clicked.connect(self.add_branch)
        self.message = QLabel()
        self.message.setObjectName("InspectorProblems")
        self.message.setWordWrap(True)
        self.message.hide()
        outer.addWidget(self.add_button)
        outer.addWidget(self.message)
        self.names: list[QLineEdit] = []
        self.weights: list[QSpinBox] = []
        self.shares: list[QLabel] = []
        self.removers: list[QToolButton] = []
        return box

    # -- model -> rows ---------------------------------------------------
    def _make_rows(self, count: int) -> None:
        while len(self.names) > count:
            for widget in (self.names.pop(), self.weights.pop(), self.shares.pop(), self.removers.pop()):
                self.grid.removeWidget(widget)
                widget.deleteLater()
        while len(self.names) < count:
            row = len(self.names)
            name = QLineEdit()
            name.setPlaceholderText("a")
            name.setMaxLength(16)
            name.editingFinished.connect(lambda row=row: self.rename(row))
            weight = QSpinBox()
            weight.setRange(1, 1000)
            weight.setToolTip("Weight: a branch with twice the weight gets twice the leads")
            weight.valueChanged.connect(lambda _v, row=row: self.reweigh(row))
            share = QLabel()
            share.setMinimumWidth(34)
            remove = QToolButton()
            remove.setText("✕")
            remove.setToolTip("Remove this branch (and its connection)")
            remove.clicked.connect(lambda _on=False, row=row: self.remove_branch(row))
            for column, widget in enumerate((name, weight, share, remove)):
                self.grid.addWidget(widget, row, column)
            self.names.append(name)
            self.weights.append(weight)
            self.shares.append(share)
            self.removers.append(remove)

    def load(self, node) -> None:
        rows = _rows(node.get(self.key))
        self._make_rows(len(rows))
        total = sum(r.get("weight") for r in rows if _positive(r.get("weight")))
        for row, branch in enumerate(rows):
            name = str(branch.get("port") or "")
            if self.names[row].text() != name and not self.names[row].hasFocus():
                self.names[row].setText(name)
            weight = branch.get("weight")
            self.weights[row].blockSignals(True)
            self.weights[row].setValue(weight if _positive(weight) else 1)
            self.weights[row].blockSignals(False)
            self.shares[row].setText(f"{round(100 * weight / total)}%" if total and _positive(weight) else "–")
            self.removers[row].setEnabled(len(rows) > MIN_BRANCHES)
        self.add_button.setEnabled(len(rows) < MAX_BRANCHES)

    # -- rows -> commands ------------------------------------------------
    def _current(self) -> list[dict]:
        return _rows(self.page.node().get(self.key))

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def reweigh(self, row: int) -> None:
        rows = self._current()
        if row < len(rows) and rows[row].get("weight") != self.weights[row].value():
            rows[row]["weight"] = self.weights[row].value()
            self.push(rows, typing=True)

    def rename(self, row: int) -> None:
        rows = self._current()
        if row >= len(rows):
            return
        old = rows[row].get("port")
        new = self.names[row].text().strip().lower()
        if new == old:
            self._say("")
            return
        if not BRANCH_NAME.fullmatch(new) or new in [r.get("port") for r in rows]:
            self._say(f"“{new}” cannot name a branch: use a short lower-case word no other branch has, "
                      "such as a, b or control.")
            self.names[row].setText(str(old or ""))
            return
        self._say("")
        rows[row]["port"] = new
        self._push_with_edge(rows, old, f"Rename branch {str(old).upper()} to {new.upper()}", moved_to=new)

    def add_branch(self) -> None:
        rows = self._current()
        if len(rows) >= MAX_BRANCHES:
            return
        taken = {r.get("port") for r in rows}
        name = next(c for c in "abcdefghij" if c not in taken)
        self.push(rows + [{"port": name, "weight": 50}])

    def remove_branch(self, row: int) -> None:
        rows = self._current()
        if row >= len(rows) or len(rows) <= MIN_BRANCHES:
            return
        port = rows.pop(row).get("port")
        self._push_with_edge(rows, port, f"Remove branch {str(port).upper()}")

    def _push_with_edge(self, rows: list, port: Any, title: str, moved_to: Optional[str] = None) -> None:
        """The branches become ``rows`` in one undoable step with what happens to the edge leaving
        ``port``: disconnected, and connected again from ``moved_to`` when the branch was renamed."""
        doc, node_id = self.page.doc, self.page.node().id
        edge = doc.flow.edge_on(node_id, port) if isinstance(port, str) else None
        macro = Macro(title)
        if edge is not None:
            macro.add(Disconnect(doc, edge))
        macro.add(SetSetting(doc, node_id, self.key, rows))
        if edge is not None and moved_to is not None:
            macro.add(Connect(doc, node_id, moved_to, edge.target, check=False))
        doc.undo_stack.push(macro)


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0

"""The findings list: every error and warning of the flow; click one to go there."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from editor import style
from editor.document import FlowDocument
from engine.flow.validate import Finding

MIN_ROWS = 4


class FindingsList(QWidget):
    #: A finding was clicked: select and centre this node.
    nodeRequested = Signal(str)

    def __init__(self, doc: FlowDocument, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("FindingsList")
        self.doc = doc
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(4)
        self.summary = QLabel()
        self.summary.setObjectName("FindingsSummary")
        layout.addWidget(self.summary)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(False)
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._clicked)
        # Room for four findings at least: two rows hid most of a flow's problems.
        row = self.list.fontMetrics().lineSpacing() + 9
        self.list.setMinimumHeight(MIN_ROWS * row + 2 * self.list.frameWidth())
        layout.addWidget(self.list)
        doc.findingsChanged.connect(self.refresh)
        self.refresh()

    def findings(self) -> list[Finding]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def refresh(self) -> None:
        findings = sorted(self.doc.findings, key=lambda f: (not f.is_error))
        self.list.clear()
        for finding in findings:
            item = QListWidgetItem(style.severity_icon(finding.severity), finding.message)
            item.setData(Qt.ItemDataRole.UserRole, finding)
            where = f" · step “{finding.node}”" if finding.node else ""
            item.setToolTip(f"{finding.code}{where}")
            self.list.addItem(item)
        errors = sum(1 for f in findings if f.is_error)
        warnings = len(findings) - errors
        if not findings:
            self.summary.setText("✓ No problems: this campaign can run.")
            self.summary.setProperty("state", "ok")
        else:
            parts = []
            if errors:
                parts.append(f"{errors} error{'s' if errors != 1 else ''}")
            if warnings:
                parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
            tail = " — fix the errors before running." if errors else ""
            self.summary.setText(", ".join(parts) + tail)
            self.summary.setProperty("state", "error" if errors else "warning")
        self.summary.style().unpolish(self.summary)
        self.summary.style().polish(self.summary)

    def _clicked(self, item: QListWidgetItem) -> None:
        finding: Finding = item.data(Qt.ItemDataRole.UserRole)
        node = finding.node or (finding.nodes[0] if finding.nodes else None)
        if node is None and finding.edge is not None:
            node = finding.edge[0]
        if node is not None and node in self.doc.flow:
            self.nodeRequested.emit(node)

"""The inspector: every setting of the selected step, each edit an undo command.

A shell around pages: the campaign page when no single step is selected
(``campaign_page.py``), otherwise the page the step's type's view descriptor
builds (``editor/node_views``: a form made from the engine's settings, or a
page of its own such as the email's preview). Pages are built the first time
a type is shown. The header, the step's validation findings and its note are
the same for every type.

Widgets never write to the model: each edit pushes a command (typing in one
field merges into one undo step). When the model changes (an edit, an undo),
the page re-reads the node, leaving a field alone if it already shows the
value so the cursor never jumps while typing.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from editor import style
from editor.campaign_page import CampaignPage, section
from editor.commands import SetNote
from editor.document import FlowDocument
from editor.node_views import view_for
from editor.summary import title


class Inspector(QWidget):
    def __init__(self, doc: FlowDocument, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("Inspector")
        self.doc = doc
        self.node_id: Optional[str] = None
        self.loading = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        body = QWidget()
        body.setObjectName("InspectorBody")
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(10)

        header = QHBoxLayout()
        self.icon = QLabel()
        self.icon.setFixedSize(32, 32)
        self.heading = QLabel()
        self.heading.setObjectName("InspectorHeading")
        header.addWidget(self.icon)
        header.addWidget(self.heading, 1)
        layout.addLayout(header)
        self.problems = QLabel()
        self.problems.setObjectName("InspectorProblems")
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.hide()
        layout.addWidget(self.problems)

        self.pages = QStackedWidget()
        self.pages.currentChanged.connect(self._fit_page)
        layout.addWidget(self.pages)
        self.campaign = CampaignPage(self)
        self.pages.addWidget(self.campaign)
        self._type_pages: dict[str, QWidget] = {}

        self.note_label = section("Note")
        self.note = QPlainTextEdit()
        self.note.setPlaceholderText("A note for your team; shown above the step and saved in the file.")
        self.note.setFixedHeight(64)
        self.note.textChanged.connect(self._note_edited)
        layout.addWidget(self.note_label)
        layout.addWidget(self.note)
        layout.addStretch(1)

        doc.settingChanged.connect(self._on_setting_changed)
        doc.extraChanged.connect(self._on_extra_changed)
        doc.nodeRemoved.connect(self._on_node_removed)
        doc.nameChanged.connect(lambda _name: self._on_changed())
        doc.reset.connect(lambda: self.set_node(None))
        doc.findingsChanged.connect(self._on_findings_changed)
        doc.changed.connect(self._on_changed)
        doc.leadsChanged.connect(self._on_leads_changed)
        self._count = 1
        self.set_node(None)

    # -- pages -----------------------------------------------------------
    def page(self, type_name: str) -> QWidget:
        """The page that edits steps of ``type_name`` (built on first use)."""
        if type_name not in self._type_pages:
            page = view_for(type_name).build_page(self)
            self._type_pages[type_name] = page
            self.pages.addWidget(page)
        return self._type_pages[type_name]

    @property
    def current(self) -> QWidget:
        """The page shown: the selected step's, or the campaign page."""
        return self.pages.currentWidget()

    def _fit_page(self, index: int) -> None:
        """Size the stack to the page shown, not to the tallest page."""
        for i in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            self.pages.widget(i).setSizePolicy(QSizePolicy.Policy.Preferred, policy)
            self.pages.widget(i).adjustSize()
        self.pages.adjustSize()

    # -- showing a node --------------------------------------------------
    def set_node(self, node_id: Optional[str], count: int = 1) -> None:
        """Show ``node_id`` (None: the campaign itself, or ``count`` selected steps)."""
        if node_id is not None and node_id not in self.doc.flow:
            node_id = None
        self.node_id = node_id
        self._count = count
        self.loading = True
        try:
            if node_id is None:
                self.icon.clear()
                self.icon.hide()
                self.heading.setText("Campaign" if count <= 1 else f"{count} steps selected")
                self.pages.setCurrentWidget(self.campaign)
                self.campaign.load(count)
                self.note_label.hide()
                self.note.hide()
            else:
                node = self.doc.node(node_id)
                view = view_for(node.type)
                self.icon.setPixmap(style.type_icon(view.icon).pixmap(32, 32))
                self.icon.show()
                self.heading.setText(f"{title(node)}  <span style='color:#667085'>{node.id}</span>")
                page = self.page(node.type)
                self.pages.setCurrentWidget(page)
                self.note_label.show()
                self.note.show()
                page.load(node)
                if self.note.toPlainText() != (node.extra.get("note") or ""):
                    self.note.setPlainText(node.extra.get("note") or "")
        finally:
            self.loading = False
        self._on_findings_changed()

    def _reload(self) -> None:
        if self.node_id is None:
            return
        self.loading = True
        try:
            self.current.load(self.doc.node(self.node_id))
        finally:
            self.loading = False

    # -- model -> widgets ------------------------------------------------
    def _on_setting_changed(self, node_id: str, _key: str) -> None:
        if node_id == self.node_id:
            self._reload()

    def _on_extra_changed(self, node_id: str, key: str) -> None:
        if node_id == self.node_id and key == "note":
            text = self.doc.node(node_id).extra.get("note") or ""
            if self.note.toPlainText() != text:
                self.loading = True
                try:
                    self.note.setPlainText(text)
                finally:
                    self.loading = False

    def _on_node_removed(self, node_id: str) -> None:
        if node_id == self.node_id:
            self.set_node(None)

    def _on_changed(self) -> None:
        """A campaign-level edit (or its undo): the campaign page shows it."""
        if self.node_id is None:
            self.loading = True
            try:
                self.campaign.load(self._count)
            finally:
                self.loading = False

    def _on_leads_changed(self) -> None:
        if self.node_id is not None:
            self._refresh()

    def _refresh(self) -> None:
        self.loading = True
        try:
            self.current.refresh(self.doc.node(self.node_id))
        finally:
            self.loading = False

    def _on_findings_changed(self) -> None:
        """Show the step's problems; refresh choices that depend on the graph."""
        if self.node_id is None or self.node_id not in self.doc.flow:
            self.problems.hide()
            return
        mine = [f for f in self.doc.findings if self.node_id in (f.nodes or (f.node,))]
        if mine:
            rows = []
            for f in mine:
                color = style.SEVERITY_COLORS[f.severity].name()
                rows.append(f"<span style='color:{color}'>●</span> {f.message}")
            self.problems.setText("<br>".join(rows))
            self.problems.show()
        else:
            self.problems.hide()
        self._refresh()

    # -- widgets -> commands ---------------------------------------------
    def _note_edited(self) -> None:
        if self.loading or self.node_id is None:
            return
        text = self.note.toPlainText()
        if (self.doc.node(self.node_id).extra.get("note") or "") == text:
            return
        self.doc.undo_stack.push(SetNote(self.doc, self.node_id, text or None))

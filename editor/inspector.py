"""The inspector: every setting of the selected step, each edit an undo command.

Widgets never write to the model: each edit pushes a ``SetSetting`` (typing
in one field merges into one undo step). When the model changes (an edit, an
undo), the inspector re-reads the node, leaving a field alone if it already
shows the value so the cursor never jumps while typing.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from editor import style
from editor.commands import SetName, SetNote, SetSetting
from editor.document import FlowDocument
from editor.summary import email_label, emails_before, link_choices, nearest_emails, title
from engine.flow.durations import DurationError, parse_duration
from engine.flow.templates import ENVIRONMENT

UNITS = (("minutes", "m", 60), ("hours", "h", 3600), ("days", "d", 86400), ("seconds", "s", 1))
SAMPLE_LEADS = style.RESOURCES / "leads" / "sample-leads.csv"


@lru_cache(maxsize=1)
def sample_lead() -> dict[str, str]:
    """The first lead of the sample list: what the HTML preview is rendered for."""
    try:
        with SAMPLE_LEADS.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                return {k: v for k, v in row.items() if k}
    except OSError:
        pass
    return {"email": "ana@example.com", "first_name": "Ana", "last_name": "Smith", "company": "Bakery Bloom"}


def render_preview(source: str) -> tuple[str, Optional[str]]:
    """Render a template for the sample lead: ``(output, None)`` or ``("", error)``."""
    try:
        return ENVIRONMENT.from_string(source or "").render(**sample_lead()), None
    except Exception as exc:  # a template error is the user's to fix, never a crash
        return "", f"{type(exc).__name__}: {exc}"


def split_duration(value: object) -> Optional[tuple[int, str]]:
    """``"36h"`` -> ``(36, "h")``: the largest unit that divides the duration evenly."""
    try:
        seconds = parse_duration(value)
    except DurationError:
        return None
    if seconds <= 0 or seconds != int(seconds):
        return None
    for _name, unit, size in sorted(UNITS, key=lambda u: -u[2]):
        if int(seconds) % size == 0:
            return int(seconds) // size, unit
    return None


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("InspectorSection")
    return label


class Inspector(QWidget):
    def __init__(self, doc: FlowDocument, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("Inspector")
        self.doc = doc
        self.node_id: Optional[str] = None
        self._loading = False
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
        self._build_flow_page()
        self._build_start_page()
        self._build_email_page()
        self._build_condition_page()
        self._build_wait_page()
        self._build_end_page()

        self.note_label = _section("Note")
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
        doc.nameChanged.connect(self._on_name_changed)
        doc.reset.connect(lambda: self.set_node(None))
        doc.findingsChanged.connect(self._on_findings_changed)
        doc.changed.connect(self._on_changed)
        self.set_node(None)

    # -- pages -----------------------------------------------------------
    def _fit_page(self, index: int) -> None:
        """Size the stack to the page shown, not to the tallest page."""
        for i in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            self.pages.widget(i).setSizePolicy(QSizePolicy.Policy.Preferred, policy)
            self.pages.widget(i).adjustSize()
        self.pages.adjustSize()

    def _form_page(self) -> tuple[QWidget, QFormLayout]:
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(8)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        return page, form

    def _build_flow_page(self) -> None:
        page, form = self._form_page()
        self.flow_name = QLineEdit()
        self.flow_name.textEdited.connect(self._name_edited)
        form.addRow("Campaign name", self.flow_name)
        self.flow_info = QLabel()
        self.flow_info.setWordWrap(True)
        self.flow_info.setObjectName("InspectorHint")
        form.addRow(self.flow_info)
        self.flow_page = page
        self.pages.addWidget(page)

    def _build_start_page(self) -> None:
        page, form = self._form_page()
        self.leads = QLineEdit()
        self.leads.setPlaceholderText("Empty: every lead of the campaign's list")
        self.leads.textEdited.connect(self._leads_edited)
        form.addRow("Lead lists (comma separated)", self.leads)
        self.start_page = page
        self.pages.addWidget(page)

    def _build_email_page(self) -> None:
        page, form = self._form_page()
        self.subject = QLineEdit()
        self.subject.setPlaceholderText("Hi {{ first_name }}, ...")
        self.subject.textEdited.connect(lambda text: self._text_edited("subject", text))
        form.addRow("Subject", self.subject)
        self.sender = QLineEdit()
        self.sender.setPlaceholderText("Default sender of the campaign")
        self.sender.textEdited.connect(lambda text: self._text_edited("sender", text))
        form.addRow("Sender", self.sender)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPixelSize(12)
        self.html = QPlainTextEdit()
        self.html.setFont(mono)
        self.html.setPlaceholderText("<p>Hi {{ first_name }}, ...</p>")
        self.html.setMinimumHeight(110)
        self.html.textChanged.connect(lambda: self._plain_edited("html", self.html))
        form.addRow("HTML body", self.html)
        lead = sample_lead()
        self.preview_label = QLabel(f"Preview for {lead.get('first_name', '')} {lead.get('last_name', '')}"
                                    .strip())
        self.preview_label.setObjectName("InspectorHint")
        self.preview_subject = QLabel()
        self.preview_subject.setObjectName("PreviewSubject")
        self.preview_subject.setWordWrap(True)
        self.preview = QTextBrowser()
        self.preview.setObjectName("Preview")
        self.preview.setOpenLinks(False)
        self.preview.setMinimumHeight(120)
        form.addRow(self.preview_label)
        form.addRow(self.preview_subject)
        form.addRow(self.preview)
        self.text = QPlainTextEdit()
        self.text.setFont(mono)
        self.text.setPlaceholderText("Optional plain-text version")
        self.text.setFixedHeight(70)
        self.text.textChanged.connect(lambda: self._plain_edited("text", self.text))
        form.addRow("Text body (optional)", self.text)
        self.email_page = page
        self.pages.addWidget(page)

    def _build_condition_page(self) -> None:
        page, form = self._form_page()
        self.event = QComboBox()
        self.event.addItem("Opened the email", "open")
        self.event.addItem("Clicked a link", "click")
        self.event.activated.connect(lambda _i: self._combo_edited("event", self.event))
        form.addRow("Event", self.event)
        self.watched = QComboBox()
        self.watched.activated.connect(lambda _i: self._combo_edited("email", self.watched))
        form.addRow("Watched email", self.watched)
        self.link_label = QLabel("Link")
        self.link = QComboBox()
        self.link.activated.connect(lambda _i: self._combo_edited("url", self.link))
        form.addRow(self.link_label, self.link)
        self.mode = QComboBox()
        self.mode.addItem("Parallel: the NO path carries on", "parallel")
        self.mode.addItem("Exclusive: move the lead to YES", "exclusive")
        self.mode.activated.connect(lambda _i: self._combo_edited("mode", self.mode))
        form.addRow("When the event comes during the wait", self.mode)
        hint = QLabel("The first step of the NO path must be a Wait: it is how long the condition "
                      "waits for the event.")
        hint.setWordWrap(True)
        hint.setObjectName("InspectorHint")
        form.addRow(hint)
        self.condition_page = page
        self.pages.addWidget(page)

    def _build_wait_page(self) -> None:
        page, form = self._form_page()
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        self.amount = QSpinBox()
        self.amount.setRange(1, 100000)
        self.amount.valueChanged.connect(lambda _v: self._duration_edited())
        self.unit = QComboBox()
        for name, unit, _size in UNITS:
            self.unit.addItem(name, unit)
        self.unit.activated.connect(lambda _i: self._duration_edited())
        box.addWidget(self.amount, 1)
        box.addWidget(self.unit, 1)
        form.addRow("Wait for", row)
        self.duration_problem = QLabel()
        self.duration_problem.setObjectName("InspectorProblems")
        self.duration_problem.setWordWrap(True)
        form.addRow(self.duration_problem)
        self.wait_page = page
        self.pages.addWidget(page)

    def _build_end_page(self) -> None:
        page, form = self._form_page()
        label = QLabel("Leads that reach this step are done with the campaign.")
        label.setWordWrap(True)
        label.setObjectName("InspectorHint")
        form.addRow(label)
        self.end_page = page
        self.pages.addWidget(page)

    # -- showing a node --------------------------------------------------
    def set_node(self, node_id: Optional[str], count: int = 1) -> None:
        """Show ``node_id`` (None: the campaign itself, or ``count`` selected steps)."""
        if node_id is not None and node_id not in self.doc.flow:
            node_id = None
        self.node_id = node_id
        self._loading = True
        try:
            if node_id is None:
                self.icon.clear()
                self.icon.hide()
                self.heading.setText("Campaign" if count <= 1 else f"{count} steps selected")
                self.pages.setCurrentWidget(self.flow_page)
                self.flow_name.setText(self.doc.flow.name)
                self._update_flow_info(count)
                self.note_label.hide()
                self.note.hide()
            else:
                node = self.doc.node(node_id)
                self.icon.setPixmap(style.type_icon(node.type).pixmap(32, 32))
                self.icon.show()
                self.heading.setText(f"{title(node)}  <span style='color:#667085'>{node.id}</span>")
                pages = {"start": self.start_page, "email": self.email_page, "condition": self.condition_page,
                         "wait": self.wait_page, "end": self.end_page}
                self.pages.setCurrentWidget(pages[node.type])
                self.note_label.show()
                self.note.show()
                self._load_fields()
                self._set_plain(self.note, node.extra.get("note") or "")
        finally:
            self._loading = False
        self._on_findings_changed()

    def _update_flow_info(self, count: int) -> None:
        flow = self.doc.flow
        text = f"{len(flow.nodes)} steps, {len(flow.edges)} connections."
        if count > 1:
            text += " Select one step to edit its settings."
        else:
            text += " Select a step to edit it, or drag one from the palette."
        self.flow_info.setText(text)

    def _load_fields(self) -> None:
        node = self.doc.node(self.node_id)
        if node.type == "start":
            leads = ", ".join(map(str, node.get("leads") or []))
            if self._split_leads(self.leads.text()) != (node.get("leads") or None):
                self.leads.setText(leads)
        elif node.type == "email":
            for key, widget in (("subject", self.subject), ("sender", self.sender)):
                if widget.text() != (node.get(key) or ""):
                    widget.setText(node.get(key) or "")
                    if not widget.hasFocus():
                        widget.setCursorPosition(0)
            self._set_plain(self.html, node.get("html") or "")
            self._set_plain(self.text, node.get("text") or "")
            self._update_preview()
        elif node.type == "condition":
            self._select_data(self.event, node.get("event") or "open")
            self._fill_condition_choices()
            self._select_data(self.mode, node.mode)
        elif node.type == "wait":
            parts = split_duration(node.get("duration"))
            if parts is not None:
                amount, unit = parts
                self.amount.blockSignals(True)
                self.amount.setValue(amount)
                self.amount.blockSignals(False)
                self._select_data(self.unit, unit)
                self.duration_problem.hide()
            else:
                raw = node.get("duration")
                self.duration_problem.setText(
                    "No duration yet: choose one." if raw is None else
                    f"The file says “{raw}”, which is not a whole positive duration; choose one.")
                self.duration_problem.show()

    def _fill_condition_choices(self) -> None:
        node = self.doc.node(self.node_id)
        flow = self.doc.flow
        named = node.get("email")
        self.watched.clear()
        nearest = nearest_emails(flow, node.id)
        hint = f" (now: {email_label(flow, nearest[0])})" if len(nearest) == 1 else ""
        self.watched.addItem(f"Nearest email before it{hint}", None)
        candidates = emails_before(flow, node.id)
        for email_id in candidates:
            self.watched.addItem(f"{email_label(flow, email_id)}  ({email_id})", email_id)
        if named and named not in candidates:
            self.watched.addItem(f"{named} (not before this step)", named)
        self._select_data(self.watched, named)
        click = node.get("event") == "click"
        self.link_label.setVisible(click)
        self.link.setVisible(click)
        self.link.clear()
        self.link.addItem("Any link in the email", None)
        urls = []
        for url, text in link_choices(flow, node):
            urls.append(url)
            self.link.addItem(f"{text or url}  ·  {url}", url)
        url = node.get("url")
        if url and url not in urls:
            self.link.addItem(f"{url} (not in the email)", url)
        self._select_data(self.link, url)

    def _update_preview(self) -> None:
        node = self.doc.node(self.node_id)
        subject, subject_error = render_preview(node.get("subject") or "")
        self.preview_subject.setText(f"<b>Subject:</b> {subject}" if not subject_error
                                     else f"<b>Subject:</b> <span style='color:#D92D20'>{subject_error}</span>")
        html, error = render_preview(node.get("html") or "")
        if error:
            self.preview.setHtml(f"<p style='color:#D92D20'>The body cannot be rendered: {error}</p>")
        else:
            self.preview.setHtml(html or "<p style='color:#98A2B3'>Write the HTML body above.</p>")

    # -- model -> widgets ------------------------------------------------
    def _on_setting_changed(self, node_id: str, _key: str) -> None:
        if node_id == self.node_id:
            self._loading = True
            try:
                self._load_fields()
            finally:
                self._loading = False

    def _on_extra_changed(self, node_id: str, key: str) -> None:
        if node_id == self.node_id and key == "note":
            self._loading = True
            try:
                self._set_plain(self.note, self.doc.node(node_id).extra.get("note") or "")
            finally:
                self._loading = False

    def _on_node_removed(self, node_id: str) -> None:
        if node_id == self.node_id:
            self.set_node(None)

    def _on_name_changed(self, name: str) -> None:
        if self.flow_name.text() != name:
            self.flow_name.setText(name)

    def _on_changed(self) -> None:
        if self.node_id is None:
            self._update_flow_info(1)

    def _on_findings_changed(self) -> None:
        """Show the step's problems; refresh condition choices (the graph may have changed)."""
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
        if self.doc.node(self.node_id).type == "condition" and not self.watched.view().isVisible():
            self._loading = True
            try:
                self._fill_condition_choices()
            finally:
                self._loading = False

    # -- widgets -> commands ---------------------------------------------
    def _push(self, key: str, value: Any, typing: bool = False) -> None:
        if self._loading or self.node_id is None:
            return
        node = self.doc.node(self.node_id)
        if node.settings.get(key) == value and (value is not None or key not in node.settings):
            return
        self.doc.undo_stack.push(SetSetting(self.doc, self.node_id, key, value, typing=typing))

    def _text_edited(self, key: str, text: str) -> None:
        self._push(key, text if text else None, typing=True)

    def _plain_edited(self, key: str, widget: QPlainTextEdit) -> None:
        if self._loading:
            return
        text = widget.toPlainText()
        self._push(key, text if text else None, typing=True)
        if key == "html" and self.node_id is not None:
            self._update_preview()

    def _combo_edited(self, key: str, combo: QComboBox) -> None:
        value = combo.currentData()
        if key == "mode" and value == "parallel" and "mode" not in self.doc.node(self.node_id).settings:
            return  # parallel is the default; do not write it
        self._push(key, value)
        if key in ("event", "email"):
            self._loading = True
            try:
                self._fill_condition_choices()
            finally:
                self._loading = False

    def _duration_edited(self) -> None:
        if self._loading:
            return
        self._push("duration", f"{self.amount.value()}{self.unit.currentData()}", typing=True)

    def _leads_edited(self, text: str) -> None:
        self._push("leads", self._split_leads(text), typing=True)

    @staticmethod
    def _split_leads(text: str) -> Optional[list[str]]:
        leads = [part.strip() for part in text.split(",") if part.strip()]
        return leads or None

    def _note_edited(self) -> None:
        if self._loading or self.node_id is None:
            return
        text = self.note.toPlainText()
        if (self.doc.node(self.node_id).extra.get("note") or "") == text:
            return
        self.doc.undo_stack.push(SetNote(self.doc, self.node_id, text or None))

    def _name_edited(self, text: str) -> None:
        if text.strip() and text != self.doc.flow.name:
            self.doc.undo_stack.push(SetName(self.doc, text))

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def _set_plain(widget: QPlainTextEdit, text: str) -> None:
        if widget.toPlainText() != text:
            widget.setPlainText(text)

    @staticmethod
    def _select_data(combo: QComboBox, value: Any) -> None:
        index = combo.findData(value)
        if index < 0 and value is None:
            index = 0
        combo.setCurrentIndex(max(index, 0))


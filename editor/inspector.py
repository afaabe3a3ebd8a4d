"""The inspector: every setting of the selected step, each edit an undo command.

An email's preview is built by the renderer that sends it
(``engine.delivery.render.preview_email``: the same sandboxed templates,
Markdown, layout and theme), for a lead chosen from the campaign's lead list
(or the sample lead), at a desktop or a phone width. The campaign page edits
the theme every email of the campaign is wrapped in.

Widgets never write to the model: each edit pushes a ``SetSetting`` (typing
in one field merges into one undo step). When the model changes (an edit, an
undo), the inspector re-reads the node, leaving a field alone if it already
shows the value so the cursor never jumps while typing.
"""

from __future__ import annotations

import copy
import csv
from functools import lru_cache
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QUndoCommand
from PySide6.QtWidgets import (
    QButtonGroup,
    QColorDialog,
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from editor import style
from editor.commands import SETTING_ID, SetName, SetNote, SetSetting
from editor.document import FlowDocument
from editor.summary import email_label, emails_before, link_choices, nearest_emails, title
from engine.delivery.layout import DEFAULT_COLOR, MAX_WIDTH, Theme
from engine.delivery.render import RenderError, email_content, preview_email
from engine.flow.body import body_format
from engine.flow.durations import DurationError, parse_duration
from engine.flow.fields import STANDARD_FIELDS

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


#: The preview's widths: a desktop client's reading pane and a phone.
PREVIEW_WIDTHS = (("Desktop", MAX_WIDTH + 40), ("Phone", 360))
THEME_FIELDS = ("logo", "color", "footer", "address")


class SetTheme(QUndoCommand):
    """Set the campaign's theme (the flow's ``theme`` object; None removes it); typing merges."""

    def __init__(self, doc: FlowDocument, theme: Optional[dict[str, str]], typing: bool = False) -> None:
        super().__init__("Edit the email design")
        self.doc = doc
        self.value = copy.deepcopy(theme) or None
        self.old = copy.deepcopy(doc.flow.extra.get("theme"))
        self.typing = typing

    def id(self) -> int:
        return SETTING_ID + 20

    def _apply(self, value: Optional[dict[str, str]]) -> None:
        if value:
            self.doc.flow.extra["theme"] = copy.deepcopy(value)
        else:
            self.doc.flow.extra.pop("theme", None)
        self.doc.flow.changed.emit()

    def redo(self) -> None:
        self._apply(self.value)

    def undo(self) -> None:
        self._apply(self.old)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, SetTheme) and self.typing and other.typing):
            return False
        self.value = other.value
        self.setObsolete(self.value == self.old)
        return True


class PreviewWindow(QDialog):
    """The preview in a window of its own, wide enough for the desktop width the dock cannot show."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("PreviewWindow")
        self.setWindowTitle("Email preview")
        self.setModal(False)
        layout = QVBoxLayout(self)
        self.subject = QLabel()
        self.subject.setObjectName("PreviewSubject")
        self.subject.setWordWrap(True)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.setLineWrapMode(QTextEdit.LineWrapMode.FixedPixelWidth)
        layout.addWidget(self.subject)
        layout.addWidget(self.browser, 1)

    def show_email(self, subject: str, html: str, width: int) -> None:
        self.subject.setText(subject)
        self.browser.setLineWrapColumnOrWidth(width)
        self.browser.setHtml(html)
        screen = self.screen().availableGeometry() if self.screen() else None
        height = min(720, screen.height() - 80) if screen else 720
        self.resize(width + 60, max(height, 300))


def lead_name(email: str, fields: dict[str, Any]) -> str:
    """How the lead picker names a lead: its name and address."""
    name = " ".join(str(fields.get(k) or "") for k in ("first_name", "last_name")).strip()
    return f"{name} <{email}>" if name else email


def render_preview(content: Any, fields: dict[str, Any], email: str) -> tuple[str, str, list[str]]:
    """Subject, HTML and the template errors of one email for one lead, built by the
    renderer that sends it; ``("", "", [reason])`` when it cannot be built at all."""
    try:
        rendered = preview_email(content, fields, email)
    except RenderError as exc:
        return "", "", [str(exc)]
    return rendered.subject, rendered.html, rendered.errors


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
        form.addRow(_section("Email design"))
        self.theme_logo = QLineEdit()
        self.theme_logo.setPlaceholderText("https://… (a PNG or JPEG, shown 180 px wide)")
        form.addRow("Logo URL", self.theme_logo)
        colour_row = QWidget()
        colour_box = QHBoxLayout(colour_row)
        colour_box.setContentsMargins(0, 0, 0, 0)
        self.theme_color = QLineEdit()
        self.theme_color.setPlaceholderText(DEFAULT_COLOR)
        self.theme_color_button = QPushButton("Choose…")
        self.theme_color_button.clicked.connect(self._choose_color)
        colour_box.addWidget(self.theme_color, 1)
        colour_box.addWidget(self.theme_color_button)
        form.addRow("Brand colour", colour_row)
        self.theme_footer = QLineEdit()
        self.theme_footer.setPlaceholderText("Why the reader gets these emails")
        form.addRow("Footer text", self.theme_footer)
        self.theme_address = QPlainTextEdit()
        self.theme_address.setPlaceholderText("Your postal address (the law requires it in marketing email)")
        self.theme_address.setFixedHeight(54)
        form.addRow("Postal address", self.theme_address)
        self.theme_hint = QLabel()
        self.theme_hint.setWordWrap(True)
        self.theme_hint.setObjectName("InspectorHint")
        form.addRow(self.theme_hint)
        for line in (self.theme_logo, self.theme_color, self.theme_footer):
            line.textEdited.connect(lambda _text: self._theme_edited())
        self.theme_address.textChanged.connect(self._theme_edited)
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
        self.body_format = QComboBox()
        self.body_format.addItem("HTML", "html")
        self.body_format.addItem("Markdown", "markdown")
        self.body_format.setToolTip("Markdown: **bold**, *italic*, [link text](https://…), # Heading, - list item. "
                                    "Either way the body is sent in the campaign's design.")
        self.body_format.activated.connect(lambda _i: self._format_edited())
        form.addRow("Body written in", self.body_format)
        self.insert_field = QComboBox()
        self.insert_field.setToolTip("Put a field of the lead list where the cursor is (subject, body or text)")
        self.insert_field.activated.connect(self._insert_field)
        form.addRow("Insert field", self.insert_field)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPixelSize(12)
        self.html = QPlainTextEdit()
        self.html.setFont(mono)
        self.html.setPlaceholderText("<p>Hi {{ first_name }}, ...</p>")
        self.html.setMinimumHeight(110)
        self.html.textChanged.connect(lambda: self._plain_edited("html", self.html))
        self.body_label = QLabel("HTML body")
        form.addRow(self.body_label, self.html)
        self.preview_label = QLabel("Preview as")
        self.preview_lead = QComboBox()
        self.preview_lead.activated.connect(lambda _i: self._update_preview())
        form.addRow(self.preview_label, self.preview_lead)
        widths = QWidget()
        widths_box = QHBoxLayout(widths)
        widths_box.setContentsMargins(0, 0, 0, 0)
        self.preview_widths = QButtonGroup(self)
        for index, (name, width) in enumerate(PREVIEW_WIDTHS):
            button = QPushButton(name)
            button.setToolTip(f"Preview {width} px wide")
            button.setCheckable(True)
            button.setChecked(index == 0)
            self.preview_widths.addButton(button, width)
            widths_box.addWidget(button)
        self.preview_widths.idClicked.connect(lambda _w: self._update_preview())
        self.pop_out = QPushButton("Pop out")
        self.pop_out.setToolTip("The preview at full width, in a window you can keep beside the editor")
        self.pop_out.clicked.connect(self.open_preview_window)
        widths_box.addWidget(self.pop_out)
        self.preview_window: Optional[PreviewWindow] = None
        for combo in (self.body_format, self.insert_field, self.preview_lead):
            # Long lead names or columns must not widen the inspector past its dock.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        form.addRow(widths)
        self.preview_subject = QLabel()
        self.preview_subject.setObjectName("PreviewSubject")
        self.preview_subject.setWordWrap(True)
        self.preview = QTextBrowser()
        self.preview.setObjectName("Preview")
        self.preview.setOpenLinks(False)
        self.preview.setMinimumHeight(220)
        self.preview.setLineWrapMode(QTextEdit.LineWrapMode.FixedPixelWidth)
        form.addRow(self.preview_subject)
        form.addRow(self.preview)
        self.text = QPlainTextEdit()
        self.text.setFont(mono)
        self.text.setPlaceholderText("Optional plain-text version")
        self.text.setFixedHeight(70)
        self.text.textChanged.connect(lambda: self._plain_edited("text", self.text))
        form.addRow("Text body (optional)", self.text)
        self._field_target: QWidget = self.html
        self.subject.cursorPositionChanged.connect(lambda *_: self._set_field_target(self.subject))
        self.html.cursorPositionChanged.connect(lambda: self._set_field_target(self.html))
        self.text.cursorPositionChanged.connect(lambda: self._set_field_target(self.text))
        self.doc.leadsChanged.connect(self._on_leads_changed)
        self._fill_lead_choices()
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
                self._load_theme()
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
            markdown = body_format(node) == "markdown"
            self._select_data(self.body_format, "markdown" if markdown else "html")
            self.body_label.setText("Markdown body" if markdown else "HTML body")
            self.html.setPlaceholderText("Hi {{ first_name }},\n\nOur **spring offer** is live: "
                                         "[see it](https://…)" if markdown else "<p>Hi {{ first_name }}, ...</p>")
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

    def preview_lead_fields(self) -> tuple[str, dict[str, Any]]:
        """The address and fields of the lead the preview is shown for."""
        index = self.preview_lead.currentIndex()
        if self.doc.lead_samples and 0 <= index < len(self.doc.lead_samples):
            return self.doc.lead_samples[index]
        lead = sample_lead()
        return lead.get("email") or "ana@example.com", dict(lead)

    def _update_preview(self) -> None:
        node = self.doc.node(self.node_id)
        email, fields = self.preview_lead_fields()
        subject, html, errors = render_preview(email_content(node, self.doc.flow), fields, email)
        subject_errors = [e for e in errors if e.startswith("subject:")]
        body_errors = [e for e in errors if not e.startswith("subject:")]
        escaped = subject.replace("&", "&amp;").replace("<", "&lt;")
        self.preview_subject.setText(
            f"<b>Subject:</b> {escaped}" if not subject_errors else
            f"<b>Subject:</b> <span style='color:#D92D20'>cannot be filled in for this lead, so the email "
            f"would not be sent: {subject_errors[0][len('subject: '):]}</span>")
        width = self.preview_widths.checkedId()
        self.preview.setLineWrapColumnOrWidth(width)
        if width < MAX_WIDTH:  # a phone: the column takes the whole screen, as the layout's CSS makes it
            html = html.replace(f'width="{MAX_WIDTH}"', 'width="100%"')
        if body_errors:
            reason = body_errors[0].replace("&", "&amp;").replace("<", "&lt;")
            html = (f"<p style='color:#D92D20'>The email cannot be rendered for this lead, so it would not be "
                    f"sent: {reason}</p>" + html)
        elif not (node.get("html") or "").strip():
            html = "<p style='color:#98A2B3'>Write the body above.</p>"
        self.preview.setHtml(html)
        if self.preview_window is not None and self.preview_window.isVisible():
            self.preview_window.show_email(self.preview_subject.text(), html, width)

    def open_preview_window(self) -> None:
        """Show the preview in its own window (kept up to date while it is open)."""
        if self.preview_window is None:
            self.preview_window = PreviewWindow(self)
        self.preview_window.show()
        if self.node_id is not None and self.doc.node(self.node_id).type == "email":
            self._update_preview()
        self.preview_window.raise_()

    def _fill_lead_choices(self) -> None:
        """The lead picker: the lead list's first leads, or the sample lead."""
        self.preview_lead.clear()
        if self.doc.lead_samples:
            for email, fields in self.doc.lead_samples:
                self.preview_lead.addItem(lead_name(email, fields))
        else:
            lead = sample_lead()
            self.preview_lead.addItem(f"Sample lead: {lead_name(lead.get('email') or '', lead)}")
        self.insert_field.clear()
        self.insert_field.addItem("Choose a field to insert…", None)
        columns = self.doc.lead_columns if self.doc.lead_columns is not None else tuple(sample_lead())
        for name in sorted(set(columns) | STANDARD_FIELDS):
            self.insert_field.addItem(name, name)

    def _on_leads_changed(self) -> None:
        self._fill_lead_choices()
        if self.node_id is not None and self.doc.node(self.node_id).type == "email":
            self._update_preview()

    def _set_field_target(self, widget: QWidget) -> None:
        if widget.hasFocus():
            self._field_target = widget

    def _insert_field(self, index: int) -> None:
        """Insert ``{{ field }}`` at the cursor of the subject, body or text last edited."""
        name = self.insert_field.itemData(index)
        self.insert_field.setCurrentIndex(0)
        if not name or self.node_id is None:
            return
        tag = f"{{{{ {name} }}}}"
        target = self._field_target
        if isinstance(target, QLineEdit):
            target.insert(tag)
            self._text_edited("subject", target.text())
        elif isinstance(target, QPlainTextEdit):
            target.insertPlainText(tag)  # textChanged pushes the edit
        target.setFocus()

    def _format_edited(self) -> None:
        value = self.body_format.currentData()
        self._push("format", None if value == "html" else value)

    # -- the campaign's theme --------------------------------------------
    def _load_theme(self) -> None:
        raw = self.doc.flow.extra.get("theme")
        raw = raw if isinstance(raw, dict) else {}
        for key, widget in (("logo", self.theme_logo), ("color", self.theme_color), ("footer", self.theme_footer)):
            value = raw.get(key) if isinstance(raw.get(key), str) else ""
            if widget.text() != value:
                widget.setText(value)
                if not widget.hasFocus():
                    widget.setCursorPosition(0)
        address = raw.get("address") if isinstance(raw.get("address"), str) else ""
        self._set_plain(self.theme_address, address)
        self._update_theme_hint()

    def _update_theme_hint(self) -> None:
        raw = self.doc.flow.extra.get("theme")
        raw = raw if isinstance(raw, dict) else {}
        theme = Theme.from_flow(raw)
        notes = []
        if raw.get("color") and theme.color != raw.get("color"):
            notes.append(f"“{raw.get('color')}” is not a colour such as {DEFAULT_COLOR}; the default is used.")
        if raw.get("logo") and not theme.logo:
            notes.append("The logo must be a web address starting with https://.")
        if not theme.address:
            notes.append("Add your postal address: marketing email must carry one (CAN-SPAM).")
        self.theme_hint.setText(" ".join(notes) or "Every email of the campaign is sent in this design.")
        self.theme_color_button.setStyleSheet(f"background-color: {theme.color}; color: white;")

    def _theme_edited(self) -> None:
        if self._loading:
            return
        values = {"logo": self.theme_logo.text().strip(), "color": self.theme_color.text().strip(),
                  "footer": self.theme_footer.text().strip(), "address": self.theme_address.toPlainText().strip()}
        old = self.doc.flow.extra.get("theme")
        theme = dict(old) if isinstance(old, dict) else {}  # fields a newer version wrote are kept
        for key, value in values.items():
            if value:
                theme[key] = value
            else:
                theme.pop(key, None)
        if theme == (old if isinstance(old, dict) else {}):
            return
        self.doc.undo_stack.push(SetTheme(self.doc, theme, typing=True))
        self._update_theme_hint()

    def _choose_color(self) -> None:
        current = QColor(Theme.from_flow(self.doc.flow.extra.get("theme")).color)
        chosen = QColorDialog.getColor(current, self, "Brand colour")
        if chosen.isValid():
            self.theme_color.setText(chosen.name().upper())
            self._theme_edited()

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
            self._loading = True
            try:
                self._load_theme()  # an undo of a theme edit
            finally:
                self._loading = False

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


"""The email's inspector page: subject, sender, body (HTML or Markdown), a field
menu, and a live preview built by the renderer that sends it.

The preview (``engine.delivery.render.preview_email``: the same sandboxed
templates, Markdown, layout and theme) is shown for a lead chosen from the
campaign's lead list (or the sample lead), at a desktop or a phone width,
and can pop out into a window of its own.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from editor.node_views.fields import select_data, set_line
from editor.node_views.leads import lead_columns, lead_name, sample_lead
from editor.node_views.page import SettingsPage
from engine.delivery.layout import MAX_WIDTH
from engine.delivery.render import RenderError, email_content, preview_email
from engine.flow.body import body_format

#: The preview's widths: a desktop client's reading pane and a phone.
PREVIEW_WIDTHS = (("Desktop", MAX_WIDTH + 40), ("Phone", 360))


def render_preview(content: Any, fields: dict[str, Any], email: str) -> tuple[str, str, list[str]]:
    """Subject, HTML and the template errors of one email for one lead, built by the
    renderer that sends it; ``("", "", [reason])`` when it cannot be built at all."""
    try:
        rendered = preview_email(content, fields, email)
    except RenderError as exc:
        return "", "", [str(exc)]
    return rendered.subject, rendered.html, rendered.errors


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


class EmailPage(SettingsPage):
    def build(self) -> None:
        form = self.form
        self.subject = QLineEdit()
        self.subject.setPlaceholderText("Hi {{ first_name }}, ...")
        self.subject.textEdited.connect(lambda text: self.push("subject", text or None, typing=True))
        form.addRow("Subject", self.subject)
        self.sender = QLineEdit()
        self.sender.setPlaceholderText("Default sender of the campaign")
        self.sender.textEdited.connect(lambda text: self.push("sender", text or None, typing=True))
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
        self.preview_lead = QComboBox()
        self.preview_lead.activated.connect(lambda _i: self.update_preview())
        form.addRow("Preview as", self.preview_lead)
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
        self.preview_widths.idClicked.connect(lambda _w: self.update_preview())
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

    # -- model -> widgets ------------------------------------------------
    def load(self, node: Any) -> None:
        for key, widget in (("subject", self.subject), ("sender", self.sender)):
            set_line(widget, node.get(key) or "")
        for key, widget in (("html", self.html), ("text", self.text)):
            if widget.toPlainText() != (node.get(key) or ""):
                widget.setPlainText(node.get(key) or "")
        markdown = body_format(node) == "markdown"
        select_data(self.body_format, "markdown" if markdown else "html")
        self.body_label.setText("Markdown body" if markdown else "HTML body")
        self.html.setPlaceholderText("Hi {{ first_name }},\n\nOur **spring offer** is live: "
                                     "[see it](https://…)" if markdown else "<p>Hi {{ first_name }}, ...</p>")
        self.update_preview()

    def refresh(self, node: Any) -> None:
        """Nothing here depends on the graph."""

    def preview_lead_fields(self) -> tuple[str, dict[str, Any]]:
        """The address and fields of the lead the preview is shown for."""
        index = self.preview_lead.currentIndex()
        if self.doc.lead_samples and 0 <= index < len(self.doc.lead_samples):
            return self.doc.lead_samples[index]
        lead = sample_lead()
        return lead.get("email") or "ana@example.com", dict(lead)

    def update_preview(self) -> None:
        if self.host.node_id is None or self.node().type != self.view.name:
            return
        node = self.node()
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
        self.update_preview()
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
        for name in lead_columns(self.doc):
            self.insert_field.addItem(name, name)

    def _on_leads_changed(self) -> None:
        self._fill_lead_choices()
        self.update_preview()

    # -- widgets -> commands ---------------------------------------------
    def _plain_edited(self, key: str, widget: QPlainTextEdit) -> None:
        if self.loading:
            return
        text = widget.toPlainText()
        self.push(key, text if text else None, typing=True)
        if key == "html":
            self.update_preview()

    def _format_edited(self) -> None:
        value = self.body_format.currentData()
        self.push("format", None if value == "html" else value)

    def _set_field_target(self, widget: QWidget) -> None:
        if widget.hasFocus():
            self._field_target = widget

    def _insert_field(self, index: int) -> None:
        """Insert ``{{ field }}`` at the cursor of the subject, body or text last edited."""
        name = self.insert_field.itemData(index)
        self.insert_field.setCurrentIndex(0)
        if not name or self.host.node_id is None:
            return
        tag = f"{{{{ {name} }}}}"
        target = self._field_target
        if isinstance(target, QLineEdit):
            target.insert(tag)
            self.push("subject", target.text() or None, typing=True)
        elif isinstance(target, QPlainTextEdit):
            target.insertPlainText(tag)  # textChanged pushes the edit
        target.setFocus()

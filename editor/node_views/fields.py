"""One control per kind of setting (``Setting.kind``), shared by every inspector page.

A ``FieldEditor`` shows one setting of the selected node and pushes a
``SetSetting`` through its page when the user changes it; it never writes
the model. ``load`` re-reads the node (after any edit, undo or redo) and
leaves a control alone when it already shows the value, so the cursor never
jumps while typing. Graph- or lead-list-dependent choices (the watched
email, its links, the lead list's fields) are refilled by ``refresh``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from editor.node_views.leads import lead_columns
from editor.node_views.zones import ZoneBox
from editor.summary import email_label, emails_before, link_choices, nearest_emails
from engine.flow.durations import DurationError, parse_duration
from engine.nodes.window_times import DAYS

if TYPE_CHECKING:
    from editor.node_views.page import SettingsPage
    from engine.flow.model import Node
    from engine.nodes.base import Setting

UNITS = (("minutes", "m", 60), ("hours", "h", 3600), ("days", "d", 86400), ("seconds", "s", 1))


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


def select_data(combo: QComboBox, value: Any) -> None:
    index = combo.findData(value)
    if index < 0 and value is None:
        index = 0
    combo.setCurrentIndex(max(index, 0))


def set_line(widget: QLineEdit, text: str) -> None:
    if widget.text() != text:
        widget.setText(text)
        if not widget.hasFocus():
            widget.setCursorPosition(0)


class FieldEditor:
    """The control of one setting; subclasses build and load it."""

    def __init__(self, setting: Setting, page: SettingsPage) -> None:
        self.setting = setting
        self.key = setting.key
        self.page = page
        self.widget = self.build()
        if setting.help:
            self.widget.setToolTip(setting.help)

    def build(self) -> QWidget:
        raise NotImplementedError

    def load(self, node: Node) -> None:
        raise NotImplementedError

    def refresh(self, node: Node) -> None:
        """Refill choices that depend on the graph or the lead list."""

    def push(self, value: Any, typing: bool = False) -> None:
        self.page.push(self.key, value, typing)


class LineEditor(FieldEditor):
    """A one-line text (``text``, ``template``, ``time``)."""

    def build(self) -> QWidget:
        self.line = QLineEdit()
        self.line.setPlaceholderText(self.page.view.placeholders.get(self.key)
                                     or str(self.setting.default or self.setting.help or ""))
        self.line.textEdited.connect(lambda text: self.push(self.value(text), typing=True))
        return self.line

    def value(self, text: str) -> Any:
        return text if text else None

    def shown(self, value: Any) -> str:
        return "" if value is None else str(value)

    def load(self, node: Node) -> None:
        if self.value(self.line.text()) != node.get(self.key):
            set_line(self.line, self.shown(node.get(self.key)))


class ListEditor(LineEditor):
    """A comma-separated list (``leads``)."""

    def value(self, text: str) -> Any:
        items = [part.strip() for part in text.split(",") if part.strip()]
        return items or None

    def shown(self, value: Any) -> str:
        return ", ".join(map(str, value)) if isinstance(value, list) else self.shown_scalar(value)

    @staticmethod
    def shown_scalar(value: Any) -> str:
        return "" if value is None else str(value)


class ValueEditor(ListEditor):
    """A check's value: a text or number, or for ``in`` a comma-separated list."""

    def value(self, text: str) -> Any:
        if self.page.node().get("op") == "in":
            return super().value(text)
        return text if text else None

    def load(self, node: Node) -> None:
        listed = node.get("op") == "in"
        self.line.setPlaceholderText("FR, BE, CH" if listed else "Text or a number")
        super().load(node)


class PlainEditor(FieldEditor):
    """Several lines of text (``html``)."""

    def build(self) -> QWidget:
        self.text = QPlainTextEdit()
        self.text.setMinimumHeight(90)
        self.text.textChanged.connect(self._edited)
        return self.text

    def _edited(self) -> None:
        text = self.text.toPlainText()
        self.push(text if text else None, typing=True)

    def load(self, node: Node) -> None:
        if self.text.toPlainText() != (node.get(self.key) or ""):
            self.text.setPlainText(node.get(self.key) or "")


class DurationEditor(FieldEditor):
    """An amount and a unit; a duration the file wrote otherwise is explained, not lost."""

    def build(self) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        self.amount = QSpinBox()
        self.amount.setRange(1, 100000)
        self.amount.valueChanged.connect(lambda _v: self._edited())
        self.unit = QComboBox()
        for name, unit, _size in UNITS:
            self.unit.addItem(name, unit)
        self.unit.activated.connect(lambda _i: self._edited())
        self.problem = QLabel()
        self.problem.setObjectName("InspectorProblems")
        self.problem.setWordWrap(True)
        box.addWidget(self.amount, 1)
        box.addWidget(self.unit, 1)
        return row

    def extra_rows(self) -> list[QWidget]:
        return [self.problem]

    def _edited(self) -> None:
        if not self.page.loading:
            self.push(f"{self.amount.value()}{self.unit.currentData()}", typing=True)

    def load(self, node: Node) -> None:
        parts = split_duration(node.get(self.key))
        if parts is not None:
            self.amount.blockSignals(True)
            self.amount.setValue(parts[0])
            self.amount.blockSignals(False)
            select_data(self.unit, parts[1])
            self.problem.hide()
            return
        raw = node.get(self.key)
        self.problem.setText("No duration yet: choose one." if raw is None else
                             f"The file says “{raw}”, which is not a whole positive duration; choose one.")
        self.problem.show()


class ChoiceEditor(FieldEditor):
    """One of the setting's ``choices``, in the view's words; a default left unset stays unset."""

    def build(self) -> QWidget:
        self.combo = QComboBox()
        labels = self.page.view.choice_labels.get(self.key, {})
        for choice in self.setting.choices:
            self.combo.addItem(labels.get(choice, choice), choice)
        self.combo.activated.connect(self._chosen)
        return self.combo

    def _chosen(self, _index: int) -> None:
        value = self.combo.currentData()
        node = self.page.node()
        if self.key not in node.settings and self.setting.default is None and value == self.setting.choices[0]:
            return  # the first choice is what an unset value means; do not write it
        self.push(value)

    def load(self, node: Node) -> None:
        value = node.get(self.key)
        if value is not None and self.combo.findData(value) < 0:
            self.combo.addItem(f"{value} (not a choice)", value)
        select_data(self.combo, value if value is not None else self.setting.choices[0])


class FlagEditor(FieldEditor):
    def build(self) -> QWidget:
        self.box = QCheckBox(self.setting.label)
        self.box.toggled.connect(lambda on: self.push(True if on else None))
        return self.box

    def load(self, node: Node) -> None:
        self.box.blockSignals(True)
        self.box.setChecked(node.get(self.key) is True)
        self.box.blockSignals(False)


class WatchedEmailEditor(FieldEditor):
    """A condition's email: the nearest one, or one of the emails before it."""

    def build(self) -> QWidget:
        self.combo = QComboBox()
        self.combo.activated.connect(lambda _i: self.push(self.combo.currentData()))
        return self.combo

    def load(self, node: Node) -> None:
        self.refresh(node)

    def refresh(self, node: Node) -> None:
        if self.combo.view().isVisible():
            return
        flow = self.page.doc.flow
        named = node.get(self.key)
        self.combo.clear()
        nearest = nearest_emails(flow, node.id)
        hint = f" (now: {email_label(flow, nearest[0])})" if len(nearest) == 1 else ""
        self.combo.addItem(f"Nearest email before it{hint}", None)
        candidates = emails_before(flow, node.id)
        for email_id in candidates:
            self.combo.addItem(f"{email_label(flow, email_id)}  ({email_id})", email_id)
        if named and named not in candidates:
            self.combo.addItem(f"{named} (not before this step)", named)
        select_data(self.combo, named)


class LinkEditor(WatchedEmailEditor):
    """A click condition's link: any, or one of the watched email's links."""

    def refresh(self, node: Node) -> None:
        if self.combo.view().isVisible():
            return
        self.combo.clear()
        self.combo.addItem("Any link in the email", None)
        urls = []
        for url, text in link_choices(self.page.doc.flow, node):
            urls.append(url)
            self.combo.addItem(f"{text or url}  ·  {url}", url)
        url = node.get(self.key)
        if url and url not in urls:
            self.combo.addItem(f"{url} (not in the email)", url)
        select_data(self.combo, url)


class DaysEditor(FieldEditor):
    """Seven toggles, Monday first; the file lists the chosen days in week order."""

    def build(self) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        self.buttons: dict[str, QToolButton] = {}
        for day in DAYS:
            button = QToolButton()
            button.setText(day.capitalize())
            button.setCheckable(True)
            button.setObjectName("DayButton")
            button.clicked.connect(lambda _on: self.push([d for d in DAYS if self.buttons[d].isChecked()]))
            self.buttons[day] = button
            box.addWidget(button)
        box.addStretch(1)
        return row

    def load(self, node: Node) -> None:
        days = node.get(self.key)
        days = days if isinstance(days, list) else []
        for day, button in self.buttons.items():
            button.setChecked(day in days)


class ZoneEditor(FieldEditor):
    def build(self) -> QWidget:
        self.box = ZoneBox("The campaign's time zone")
        self.box.chosen.connect(self._chosen)
        return self.box

    def _chosen(self, text: str) -> None:
        if (text or None) != self.page.node().get(self.key):
            self.push(text or None)

    def load(self, node: Node) -> None:
        value = node.get(self.key)
        self.box.show_zone("" if value is None else str(value))


class LeadFieldEditor(FieldEditor):
    """A column of the current lead list, picked or typed (a list loaded later may have it)."""

    def build(self) -> QWidget:
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.combo.lineEdit().setPlaceholderText("Choose a field of the lead list")
        self.combo.lineEdit().textEdited.connect(lambda text: self.push(text.strip() or None, typing=True))
        self.combo.activated.connect(lambda _i: self.push(self.combo.currentText().strip() or None))
        return self.combo

    def offered(self) -> list[str]:
        return [self.combo.itemText(i) for i in range(1, self.combo.count())]

    def refresh(self, node: Node) -> None:
        columns = lead_columns(self.page.doc)
        if self.offered() != columns:
            text = self.combo.currentText()
            self.combo.blockSignals(True)
            self.combo.clear()
            self.combo.addItem("")
            self.combo.addItems(columns)
            self.combo.setEditText(text)
            self.combo.blockSignals(False)

    def load(self, node: Node) -> None:
        self.refresh(node)
        value = node.get(self.key)
        text = "" if value is None else str(value)
        if self.combo.currentText().strip() != text:
            self.combo.setEditText(text)


def _branches_editor() -> type[FieldEditor]:
    from editor.node_views.branches import BranchesEditor
    return BranchesEditor


#: Which control each ``Setting.kind`` gets.
KINDS: dict[str, Any] = {
    "text": LineEditor, "template": LineEditor, "time": LineEditor, "leads": ListEditor, "value": ValueEditor,
    "html": PlainEditor, "duration": DurationEditor, "choice": ChoiceEditor, "flag": FlagEditor,
    "email": WatchedEmailEditor, "link": LinkEditor, "days": DaysEditor, "timezone": ZoneEditor,
    "field": LeadFieldEditor, "branches": _branches_editor,
}


def editor_for(setting: Setting, page: SettingsPage) -> FieldEditor:
    """The control for ``setting`` (a kind nobody knows gets a plain text line)."""
    factory = KINDS.get(setting.kind, LineEditor)
    cls = factory() if factory is _branches_editor else factory
    return cls(setting, page)

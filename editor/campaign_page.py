"""The inspector's campaign page (nothing or several steps selected): the
campaign's name, its time zone and goal (SEMANTICS 10), who it is sent from,
and the design every email is sent in. Each edit is one undo command on the
document's stack."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from editor.commands import SetFlowField, SetName
from editor.node_views.fields import set_line
from editor.node_views.page import hint_label
from editor.node_views.zones import ZoneBox
from engine.delivery.identity import sender_problems
from engine.delivery.layout import DEFAULT_COLOR, Theme
from engine.flow.campaign import DEFAULT_ZONE

THEME_FIELDS = ("logo", "color", "footer", "address")
#: The flow's ``sender`` (``engine/delivery/identity.py``): key, label, placeholder.
SENDER_FIELDS = (
    ("name", "From name", "Bakery Bloom"),
    ("address", "From address", "news@bakery.example"),
    ("reply_to", "Reply-To", "hello@bakery.example (optional)"),
    ("return_path_domain", "Bounce domain", "bounces.bakery.example (optional: the From domain)"),
)


def section(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("InspectorSection")
    return label


class CampaignPage(QWidget):
    def __init__(self, host: Any) -> None:
        super().__init__()
        self.host = host
        self.doc = host.doc
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(8)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.flow_name = QLineEdit()
        self.flow_name.textEdited.connect(self._name_edited)
        form.addRow("Campaign name", self.flow_name)
        self.flow_info = hint_label("")
        form.addRow(self.flow_info)
        self.timezone = ZoneBox(f"{DEFAULT_ZONE} (the default)")
        self.timezone.setToolTip("Send windows open and close in this time zone, unless a lead has its own.")
        self.timezone.chosen.connect(self._zone_chosen)
        form.addRow("Time zone", self.timezone)
        self.goal = QLineEdit()
        self.goal.setPlaceholderText("https://shop.example/thanks (optional)")
        self.goal.setToolTip("A lead who clicks a link to this page in any email has converted: they leave the "
                             "campaign at once and count as a conversion.")
        self.goal.textEdited.connect(self._goal_edited)
        form.addRow("Goal: a click on", self.goal)
        form.addRow(section("Sender"))
        self.sender: dict[str, QLineEdit] = {}
        for key, text, placeholder in SENDER_FIELDS:
            line = QLineEdit()
            line.setPlaceholderText(placeholder)
            line.textEdited.connect(lambda _text: self._sender_edited())
            self.sender[key] = line
            form.addRow(text, line)
        self.sender_hint = hint_label("")
        form.addRow(self.sender_hint)
        form.addRow(section("Email design"))
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
        self.theme_hint = hint_label("")
        form.addRow(self.theme_hint)
        for line in (self.theme_logo, self.theme_color, self.theme_footer):
            line.textEdited.connect(lambda _text: self._theme_edited())
        self.theme_address.textChanged.connect(self._theme_edited)

    # -- model -> widgets ------------------------------------------------
    def load(self, count: int = 1) -> None:
        flow = self.doc.flow
        if self.flow_name.text() != flow.name:
            self.flow_name.setText(flow.name)
        text = f"{len(flow.nodes)} steps, {len(flow.edges)} connections."
        text += (" Select one step to edit its settings." if count > 1 else
                 " Select a step to edit it, or drag one from the palette.")
        self.flow_info.setText(text)
        zone = flow.extra.get("timezone")
        if not self.timezone.lineEdit().hasFocus():
            self.timezone.show_zone(zone if isinstance(zone, str) else "")
        goal = flow.extra.get("goal")
        url = goal.get("click") if isinstance(goal, dict) else None
        if (self.goal.text().strip() or None) != url:
            set_line(self.goal, url if isinstance(url, str) else "")
        sender = flow.extra.get("sender")
        sender = sender if isinstance(sender, dict) else {}
        for key, line in self.sender.items():
            set_line(line, sender.get(key) if isinstance(sender.get(key), str) else "")
        self._update_sender_hint()
        raw = flow.extra.get("theme")
        raw = raw if isinstance(raw, dict) else {}
        for key, widget in (("logo", self.theme_logo), ("color", self.theme_color), ("footer", self.theme_footer)):
            set_line(widget, raw.get(key) if isinstance(raw.get(key), str) else "")
        address = raw.get("address") if isinstance(raw.get("address"), str) else ""
        if self.theme_address.toPlainText() != address:
            self.theme_address.setPlainText(address)
        self._update_theme_hint()

    def _update_sender_hint(self) -> None:
        problems = [text for node, text in sender_problems(self.doc.flow) if node is None]
        if problems:
            self.sender_hint.setText(" ".join(problems))
        elif not isinstance(self.doc.flow.extra.get("sender"), dict):
            self.sender_hint.setText("Empty: Settings' sender is used. A real run needs a sender domain of yours.")
        else:
            self.sender_hint.setText("Every email of the campaign is sent from this address.")

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

    # -- widgets -> commands ---------------------------------------------
    def _push(self, key: str, value: Any, text: str, typing: bool = False) -> None:
        if self.host.loading or self.doc.flow.extra.get(key) == value:
            return
        self.doc.undo_stack.push(SetFlowField(self.doc, key, value, text=text, typing=typing))

    def _push_fields(self, key: str, values: dict[str, str], text: str) -> bool:
        """The flow's ``key`` object takes ``values`` (an empty one removes its field) as one
        undoable step; fields a newer version wrote are kept. False when nothing changed."""
        old = self.doc.flow.extra.get(key)
        kept = old if isinstance(old, dict) else {}
        merged = {**kept, **{field: value for field, value in values.items() if value}}
        for field in [f for f, value in values.items() if not value]:
            merged.pop(field, None)
        if merged == kept:
            return False
        self._push(key, merged or None, text, typing=True)
        return True

    def _name_edited(self, text: str) -> None:
        if text.strip() and text != self.doc.flow.name:
            self.doc.undo_stack.push(SetName(self.doc, text))

    def _zone_chosen(self, text: str) -> None:
        self._push("timezone", text or None, "Set the campaign's time zone")

    def _goal_edited(self, text: str) -> None:
        old = self.doc.flow.extra.get("goal")
        goal = dict(old) if isinstance(old, dict) else {}  # fields a newer version wrote are kept
        if text.strip():
            goal["click"] = text.strip()
        else:
            goal.pop("click", None)
        self._push("goal", goal or None, "Edit the campaign's goal", typing=True)

    def _sender_edited(self) -> None:
        if self.host.loading:
            return
        values = {key: line.text().strip() for key, line in self.sender.items()}
        if self._push_fields("sender", values, "Edit the campaign's sender"):
            self._update_sender_hint()

    def _theme_edited(self) -> None:
        if self.host.loading:
            return
        values = {"logo": self.theme_logo.text().strip(), "color": self.theme_color.text().strip(),
                  "footer": self.theme_footer.text().strip(), "address": self.theme_address.toPlainText().strip()}
        if self._push_fields("theme", values, "Edit the email design"):
            self._update_theme_hint()

    def _choose_color(self) -> None:
        current = QColor(Theme.from_flow(self.doc.flow.extra.get("theme")).color)
        chosen = QColorDialog.getColor(current, self, "Brand colour")
        if chosen.isValid():
            self.theme_color.setText(chosen.name().upper())
            self._theme_edited()

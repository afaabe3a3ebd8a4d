"""The Settings dialog's "Sender" group: who campaigns are from when their flow names no sender.

Real inboxes refuse mail from ``mailbranch.local``, so a real run needs a
sender at the marketer's own domain (the flow's ``sender``, or this default).
The fields are checked as the engine checks them (``engine/delivery/identity.py``:
email-validator, IDN domains), and each problem is a sentence under the fields;
all empty is fine (the sandbox needs no sender).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QLineEdit, QWidget

from app.settings import AppSettings
from engine.delivery.identity import SenderError, identity_from


class SenderBox(QGroupBox):
    changed = Signal()

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__("Sender (for campaigns that name none)", parent)
        form = QFormLayout(self)
        self.name = QLineEdit(settings.sender_name)
        self.name.setPlaceholderText("Spring Shop")
        self.address = QLineEdit(settings.sender_address)
        self.address.setPlaceholderText("news@your-shop.com (empty: sandbox only)")
        self.reply_to = QLineEdit(settings.reply_to)
        self.reply_to.setPlaceholderText("optional: help@your-shop.com")
        self.return_path = QLineEdit(settings.return_path_domain)
        self.return_path.setPlaceholderText("optional: bounces.your-shop.com (default: the From domain)")
        form.addRow("From name", self.name)
        form.addRow("From address", self.address)
        form.addRow("Reply-To", self.reply_to)
        form.addRow("Return-Path domain", self.return_path)
        hint = QLabel("A real run needs a sender at your own domain, with SPF, DKIM (mailbranch dkim new) and "
                      "DMARC records; the Run dialog's pre-flight checks them.")
        hint.setWordWrap(True)
        form.addRow(hint)
        for edit in (self.name, self.address, self.reply_to, self.return_path):
            edit.textChanged.connect(self.changed)

    def values(self) -> dict[str, str]:
        """The AppSettings fields, as typed (trimmed)."""
        return {"sender_name": self.name.text().strip(), "sender_address": self.address.text().strip(),
                "reply_to": self.reply_to.text().strip(), "return_path_domain": self.return_path.text().strip()}

    def problems(self) -> list[str]:
        """Sentences for what the engine could not use; empty when fine (all empty is fine)."""
        default = AppSettings(**self.values()).default_sender()
        if default is None:
            if any(self.values().values()):
                return ["Enter the From address (news@your-shop.com) or clear the sender fields."]
            return []
        try:
            identity_from(default)
        except SenderError as exc:
            return [str(exc)]
        return []

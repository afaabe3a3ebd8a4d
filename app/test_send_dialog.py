"""Send a test: one email of the campaign, with a chosen lead's fields, to the marketer's own address.

Opened from the Run dialog before a real run. It goes through the same
server the campaign will use (the engine's sandbox, whose mailbox the app
shows, or the outgoing server of Settings) with the same sender and DKIM
signature, marked ``[Test]``, untracked, touching no campaign
(``engine/delivery/test_send.py``). The send runs on a worker thread with its
own event loop, so the dialog never waits on the network.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
)

from app.background_call import BackgroundCall
from engine.delivery.smtp import SmtpSettings

_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-send")
TO_KEY = "test/to"


class TestSendDialog(QDialog):
    __test__ = False  # not a pytest class

    def __init__(self, flow_json: dict, leads: Sequence[Any], smtp: SmtpSettings, parent=None,
                 settings: Optional[QSettings] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Send a test email")
        self.flow_json, self.leads, self.smtp, self.settings = flow_json, list(leads)[:200], smtp, settings
        self.node = QComboBox()
        for node in flow_json.get("nodes", []):
            if node.get("type") == "email":
                self.node.addItem(f"{node.get('id')}: {node.get('subject') or ''}", node.get("id"))
        self.lead = QComboBox()
        self.lead.addItem("No lead (fields empty)", None)
        for index, lead in enumerate(self.leads):
            self.lead.addItem(f"{lead.key} <{lead.email}>", index)
        if self.leads:
            self.lead.setCurrentIndex(1)
        self.to = QLineEdit(str(settings.value(TO_KEY, "")) if settings is not None else "")
        self.to.setPlaceholderText("you@your-shop.com")
        self.status = QLabel("The test goes through " + ("the built-in sandbox (see Mailbox)" if smtp.sandbox else
                                                         f"the outgoing server {smtp.host}") +
                             ", marked [Test]: its links are not tracked and no campaign is touched.")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Email", self.node)
        form.addRow("Lead's fields", self.lead)
        form.addRow("Send to", self.to)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.send_button = self.buttons.addButton("Send test", QDialogButtonBox.ButtonRole.ActionRole)
        self.send_button.clicked.connect(self.send)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self._call = BackgroundCall(_POOL, self._sent, self._send_failed, self)

    def send(self) -> None:
        to = self.to.text().strip()
        if not to:
            self.status.setText("Enter the address the test goes to.")
            return
        if self.settings is not None:
            self.settings.setValue(TO_KEY, to)
        index = self.lead.currentData()
        lead = self.leads[index] if index is not None else None
        fields, lead_email = (dict(lead.fields), lead.email or to) if lead is not None else ({}, to)
        node, flow_json, smtp = self.node.currentData(), self.flow_json, self.smtp

        def work() -> str:
            from engine.delivery.identity import SenderError
            from engine.delivery.smtp import MessageProblem
            from engine.delivery.test_send import TestSendError, send_test
            from engine.flow.fileformat import loads_flow

            try:
                outcome = asyncio.run(send_test(loads_flow(json.dumps(flow_json)), node, fields, lead_email, to, smtp))
            except (TestSendError, SenderError, MessageProblem) as exc:
                return f"Not sent: {exc}"
            return f"Sent the test of {node} to {to}." if outcome.ok else f"Not sent: {outcome.error}"

        self.send_button.setEnabled(False)
        self.status.setText(f"Sending the test of {node} to {to}…")
        self._call.submit(work)

    def _sent(self, status: str) -> None:
        self.send_button.setEnabled(True)
        self.status.setText(status)

    def _send_failed(self, exc: Exception) -> None:
        self.send_button.setEnabled(True)
        self.status.setText(f"Not sent: {type(exc).__name__}: {exc}")

    def wait(self, timeout: float = 60.0) -> str:
        """For tests: block until the send finishes; the status line."""
        self._call.wait(timeout)
        return self.status.text()

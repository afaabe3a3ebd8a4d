"""The Settings dialog's "Public tracking relay" group: where readers' opens and clicks go.

A laptop cannot be reached by readers' mail clients; the relay
(``docs/relay.md``) can. Here the marketer gives its address, finds the two
secret files to copy to it (or copies the sync secret to the clipboard for
a terminal on the relay host), and checks that the relay answers with this
installation's secret. Empty means local only: links point to this computer.
"""

from __future__ import annotations

import asyncio
from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from app.relay_status import RelayStatusLabel
from engine.relay.secrets import installation_files
from engine.relay.sync import RelayError, check_relay_url


def relay_url_problem(url: str) -> Optional[str]:
    """None when fine (empty is fine: local only), else a sentence saying what to write."""
    text = url.strip()
    if not text:
        return None
    try:
        check_relay_url(text)
    except RelayError as exc:
        return f"Relay URL: {exc}."
    return None


class RelayBox(QGroupBox):
    changed = Signal()

    def __init__(self, relay_url: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__("Public tracking relay", parent)
        form = QFormLayout(self)
        self.url = QLineEdit(relay_url)
        self.url.setPlaceholderText("https://track.example.com (empty: local only)")
        self.check = QPushButton("Check")
        self.check.setToolTip("Ask the relay whether it answers with this installation's sync secret")
        self.check.clicked.connect(self.check_relay)
        form.addRow("Relay URL", self.url)  # the whole width: the box is narrow
        self.tracking_file, self.sync_file = installation_files()
        files = QLabel("Copy tracking.secret and relay-sync.secret to the relay (docs/relay.md).")
        files.setToolTip(f"{self.tracking_file}\n{self.sync_file}")
        files.setWordWrap(True)
        self.copy_secret = QPushButton("Copy sync secret")
        self.copy_secret.setToolTip("Puts the sync secret on the clipboard, to paste into the relay's "
                                    "relay-sync.secret file")
        self.copy_secret.clicked.connect(self.copy_sync_secret)
        form.addRow(files)
        copy_row = QHBoxLayout()
        copy_row.addWidget(self.copy_secret)
        copy_row.addWidget(self.check)
        copy_row.addStretch(1)
        form.addRow(copy_row)
        self.status = RelayStatusLabel(relay_url if not relay_url_problem(relay_url) else "", self.secret())
        self.status.setWordWrap(True)
        form.addRow(self.status)
        self.url.textChanged.connect(self.changed)
        self.url.textChanged.connect(self._url_changed)
        self._url_changed()

    def secret(self) -> str:
        return self.sync_file.read_text(encoding="ascii").strip()

    def values(self) -> dict[str, str]:
        return {"relay_url": self.url.text().strip().rstrip("/")}

    def problems(self) -> list[str]:
        problem = relay_url_problem(self.url.text())
        return [problem] if problem else []

    def copy_sync_secret(self) -> None:
        QGuiApplication.clipboard().setText(self.secret())

    def check_relay(self) -> Optional[asyncio.Future]:
        """Ask the relay now (the line under the buttons says what it answered)."""
        url = self.url.text().strip()
        if not url or relay_url_problem(url):
            return None
        self.status.url, self.status.secret = url, self.secret()
        return asyncio.ensure_future(self.status.refresh())

    def _url_changed(self, *_args: object) -> None:
        url = self.url.text().strip()
        self.check.setEnabled(bool(url) and not relay_url_problem(url))
        if not url:
            self.status.url, self.status.state = "", None
            self.status.setText("Local only: links point to this computer; readers elsewhere are not counted.")

"""The Settings dialog's "Bounce mailbox" group: where bounces and complaints come back.

Without it a hard bounce is only noticed when the outgoing server refuses
the address at once; most come back later, as mail to the Return-Path
mailbox, and spam complaints as reports. The engine reads that mailbox
(``engine/bounces``) when it is given as ``imaps://user@host``. The
password is kept as ``mailbranch bounce-password`` keeps it (keyring, else
an owner-only file), never in the app's settings file; "Check" tries the
login now and says why it fails, so a wrong password is found here rather
than in the engine's log.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from engine.bounces.settings import BounceMailboxError, BounceMailboxSettings, with_password


def bounce_url_problem(url: str) -> Optional[str]:
    """None when fine (empty is fine: no mailbox is read), else a sentence saying what to write."""
    text = url.strip()
    if not text:
        return None
    try:
        settings = BounceMailboxSettings.from_url(text)
    except BounceMailboxError as exc:
        return f"Bounce mailbox: {exc}."
    if settings.password is not None:
        return "Bounce mailbox: put the password in its own box, not in the URL (imaps://user@host)."
    return None


def check_login(settings: BounceMailboxSettings) -> str:
    """Log in and open the folder, as the engine will; the sentence to show. Blocking (run it in a thread)."""
    from engine.bounces.mailbox import MailboxUnavailable, _connect, _logout

    if not settings.password:
        return f"No password for {settings.username} on {settings.host}: type it above."
    try:
        client = _connect(settings)
    except MailboxUnavailable as exc:
        return f"Not reachable: {exc}."
    _logout(client)
    return f"Logged in to {settings.describe()}; the engine reads it every minute."


class BounceBox(QGroupBox):
    changed = Signal()

    def __init__(self, bounce_url: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__("Bounce mailbox", parent)
        form = QFormLayout(self)
        self.url = QLineEdit(bounce_url)
        self.url.setCursorPosition(0)  # show the account, not the end of a long URL
        self.url.setPlaceholderText("imaps://bounces@mail.your-shop.com (empty: none)")
        self.url.setToolTip("The mailbox bounces and spam complaints come back to (the Return-Path's). "
                            "imaps://user@host[:port][/folder], or imap:// for STARTTLS.")
        self.check = QPushButton("Check")
        self.check.setToolTip("Log in to the mailbox now, as the engine will")
        self.check.clicked.connect(self.check_mailbox)
        form.addRow("Mailbox URL", self.url)  # the whole width: the URL is long, the box narrow
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("empty: keep the stored one")
        self.password.setToolTip("Stored in the system keyring (or an owner-only file), as "
                                 "`mailbranch bounce-password` stores it; never in the settings file.")
        form.addRow("Password", self.password)
        row = QHBoxLayout()
        row.addWidget(self.check)
        row.addStretch(1)
        form.addRow(row)
        self.status = QLabel()
        self.status.setObjectName("bounceStatus")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        self._task: Optional[asyncio.Future] = None
        self._stored: dict[str, bool] = {}  # account -> a password is stored (looked up once)
        self.url.textChanged.connect(self.changed)
        self.url.textChanged.connect(self._url_changed)
        self.password.textChanged.connect(self.changed)
        self._url_changed()

    def values(self) -> dict[str, str]:
        return {"bounce_url": self.url.text().strip(), "bounce_password": self.password.text()}

    def problems(self) -> list[str]:
        """Sentences for what the engine could not use: a bad URL, or no password to log in with
        (the engine would refuse to start without one)."""
        problem = bounce_url_problem(self.url.text())
        if problem:
            return [problem]
        url = self.url.text().strip()
        if not url or self.password.text():
            return []
        settings = BounceMailboxSettings.from_url(url)
        account = f"{settings.username}@{settings.host}"
        if account not in self._stored:
            self._stored[account] = with_password(settings).password is not None
        if not self._stored[account]:
            return [f"Bounce mailbox: type the password of {settings.username} on {settings.host} "
                    "(none is stored yet)."]
        return []

    def settings(self) -> Optional[BounceMailboxSettings]:
        """The mailbox as the engine will read it: the typed password, else the stored one."""
        url = self.url.text().strip()
        if not url or bounce_url_problem(url):
            return None
        settings = BounceMailboxSettings.from_url(url)
        typed = self.password.text()
        return replace(settings, password=typed) if typed else with_password(settings)

    def check_mailbox(self) -> Optional[asyncio.Future]:
        """Try the login in a thread (the dialog stays responsive); the line below says how it went."""
        settings = self.settings()
        if settings is None or (self._task is not None and not self._task.done()):
            return None
        self.status.setText(f"Logging in to {settings.host}…")
        self.check.setEnabled(False)

        async def run() -> str:
            try:
                text = await asyncio.to_thread(check_login, settings)
            finally:
                self.check.setEnabled(True)
            self.status.setText(text)
            return text

        self._task = asyncio.ensure_future(run())
        return self._task

    def _url_changed(self, *_args: object) -> None:
        url = self.url.text().strip()
        self.check.setEnabled(bool(url) and not bounce_url_problem(url))
        if not url:
            self.status.setText("No mailbox: only bounces the outgoing server reports at once are counted.")
        else:
            self.status.setText("")

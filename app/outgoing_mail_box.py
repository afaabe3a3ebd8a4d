"""The Settings dialog's "Outgoing mail" group: the sandbox or an SMTP server, as fields.

The engine takes the outgoing server as one URL (``smtp+starttls://user:pw@host:587?ehlo=…``);
a marketer should not have to write one. This group turns a URL into
fields and back, and says in sentences what keeps the fields from making a
usable URL. It has its own module because it is most of the dialog's logic
and the only part that knows the URL's shape.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.delivery.smtp import DEFAULT_EHLO_NAME, SmtpSettings, SmtpUrlError

_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]?")

#: (key, label, URL scheme, usual port) for each choice of the Security box.
SECURITY = [("none", "None (STARTTLS if offered)", "smtp", 25),
            ("starttls", "STARTTLS", "smtp+starttls", 587),
            ("ssl", "SSL/TLS", "smtps", 465)]


class OutgoingMailBox(QGroupBox):
    """Sandbox or SMTP server; ``changed`` whenever a field does, so the dialog can re-check."""

    changed = Signal()

    def __init__(self, url: str, parent: Optional[QWidget] = None) -> None:
        super().__init__("Outgoing mail", parent)
        layout = QVBoxLayout(self)
        self.sandbox_radio = QRadioButton("Built-in sandbox (messages stay on this computer, in the Mailbox)")
        self.smtp_radio = QRadioButton("SMTP server")
        self._mode = QButtonGroup(self)
        self._mode.addButton(self.sandbox_radio)
        self._mode.addButton(self.smtp_radio)
        layout.addWidget(self.sandbox_radio)
        layout.addWidget(self.smtp_radio)
        self.smtp_box = QWidget()
        form = QFormLayout(self.smtp_box)
        form.setContentsMargins(24, 0, 0, 0)
        self.smtp_host = QLineEdit()
        self.smtp_host.setPlaceholderText("smtp.example.com")
        self.smtp_port = QSpinBox()
        self.smtp_port.setRange(1, 65535)
        self.smtp_security = QComboBox()
        for key, label, _scheme, _port in SECURITY:
            self.smtp_security.addItem(label, key)
        self.smtp_user = QLineEdit()
        self.smtp_password = QLineEdit()
        self.smtp_password.setEchoMode(QLineEdit.EchoMode.Password)
        # Kept in the outgoing-server URL (?ehlo=, ?ca_file=, ?allow_plain_auth=1), which the engine reads.
        self.smtp_ehlo = QLineEdit()
        self.smtp_ehlo.setPlaceholderText("localhost.localdomain (your sending domain is better)")
        self.smtp_ehlo.setToolTip("The name this computer gives the server when it says EHLO.")
        self.smtp_ca = QLineEdit()
        self.smtp_ca.setPlaceholderText("empty: the system's certificates")
        self.smtp_ca.setToolTip("A PEM file of CA certificates, for a server signed by your own authority.")
        self.smtp_plain_auth = QCheckBox("Send the password even without encryption (trusted network only)")
        form.addRow("Host", self.smtp_host)
        form.addRow("Port", self.smtp_port)
        form.addRow("Security", self.smtp_security)
        form.addRow("Username", self.smtp_user)
        form.addRow("Password", self.smtp_password)
        form.addRow("EHLO name", self.smtp_ehlo)
        form.addRow("CA bundle", self.smtp_ca)
        form.addRow("", self.smtp_plain_auth)
        layout.addWidget(self.smtp_box)

        self.fill(url)
        for signal in (self.smtp_host.textChanged, self.smtp_user.textChanged, self.smtp_password.textChanged,
                       self.smtp_ca.textChanged, self.smtp_port.valueChanged, self._mode.buttonToggled):
            signal.connect(self._changed)
        self.smtp_security.currentIndexChanged.connect(self._security_changed)
        self._changed()

    def _changed(self, *_args: object) -> None:
        self.smtp_box.setEnabled(self.smtp_radio.isChecked())
        self.changed.emit()

    def fill(self, url: str) -> None:
        """Show ``url`` as fields; one that cannot be read shows as the sandbox."""
        self.smtp_port.setValue(587)
        self.smtp_security.setCurrentIndex(1)
        try:
            parsed = SmtpSettings.from_url(url)
        except SmtpUrlError:
            parsed = None
        if parsed is None or parsed.sandbox:
            self.sandbox_radio.setChecked(True)
            return
        self.smtp_radio.setChecked(True)
        self.smtp_host.setText(parsed.host)
        security = "ssl" if parsed.use_tls else "starttls" if parsed.start_tls else "none"
        self.smtp_security.setCurrentIndex([s[0] for s in SECURITY].index(security))
        self.smtp_port.setValue(parsed.port)
        self.smtp_user.setText(parsed.username or "")
        self.smtp_password.setText(parsed.password or "")
        self.smtp_ehlo.setText("" if parsed.local_hostname == DEFAULT_EHLO_NAME else parsed.local_hostname)
        self.smtp_ca.setText(parsed.ca_file or "")
        self.smtp_plain_auth.setChecked(parsed.allow_plain_auth)

    def _security_changed(self) -> None:
        """Follow the usual port for the security chosen, unless the user typed another."""
        new_default = SECURITY[self.smtp_security.currentIndex()][3]
        if self.smtp_port.value() in {s[3] for s in SECURITY}:
            self.smtp_port.setValue(new_default)
        self._changed()

    def smtp_url(self) -> str:
        """The outgoing-server URL the fields describe (with the password: keep it out of logs)."""
        if self.sandbox_radio.isChecked():
            return "sandbox"
        scheme = SECURITY[self.smtp_security.currentIndex()][2]
        host = self.smtp_host.text().strip()
        user = self.smtp_user.text().strip()
        password = self.smtp_password.text()
        auth = ""
        if user:
            auth = quote(user, safe="")
            if password:
                auth += ":" + quote(password, safe="")
            auth += "@"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        options = [("ehlo", self.smtp_ehlo.text().strip()), ("ca_file", self.smtp_ca.text().strip()),
                   ("allow_plain_auth", "1" if self.smtp_plain_auth.isChecked() else "")]
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in options if v)
        return f"{scheme}://{auth}{host}:{self.smtp_port.value()}" + (f"?{query}" if query else "")

    def problems(self) -> list[str]:
        """What keeps these fields from making a usable server, as sentences (none for the sandbox)."""
        if not self.smtp_radio.isChecked():
            return []
        found = []
        host = self.smtp_host.text().strip()
        if not host:
            found.append("Enter the host name of the SMTP server, or choose the built-in sandbox.")
        elif not _HOST.fullmatch(host):
            found.append(f"{host!r} is not a host name: write one like smtp.example.com "
                         "or an address like 192.0.2.10, without a port (the port has its own box).")
        else:
            try:
                SmtpSettings.from_url(self.smtp_url())
            except SmtpUrlError as exc:
                found.append(self._hide_password(str(exc)))
        if self.smtp_password.text() and not self.smtp_user.text().strip():
            found.append("A password needs a username.")
        ca = self.smtp_ca.text().strip()
        if ca and not Path(ca).expanduser().is_file():
            found.append(f"The CA bundle {ca} is not a file this computer can read.")
        return found

    def _hide_password(self, message: str) -> str:
        password = self.smtp_password.text()
        if password:
            for form in (quote(password, safe=""), password):
                message = message.replace(form, "****")
        return message

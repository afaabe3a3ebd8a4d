"""The app's settings: kept with QSettings, except the SMTP password.

The password never goes into QSettings (a plain-text file or registry
entry anyone can read): ``save()`` strips it from the outgoing-server URL
and keeps it in a file only the user can read (mode 0600) in the data
directory; ``load()`` puts it back. ``repr()`` masks it, so settings that
end up in a log do not carry it either.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.window import documents_dir, is_private_folder
from engine.delivery.smtp import DEFAULT_EHLO_NAME, SmtpSettings, SmtpUrlError
from engine.runtime.home import ensure_home, mailbranch_home

MAX_RECENT = 8
PASSWORD_FILE = "smtp-password"


def data_dir() -> Path:
    """Where the app keeps its database and the SMTP password (created owner-only on first use)."""
    return ensure_home()


def default_db_path() -> str:
    return str(mailbranch_home() / "mailbranch.db")


# -- the password, outside QSettings ----------------------------------------
def _password_path() -> Path:
    return data_dir() / PASSWORD_FILE


def read_smtp_password() -> Optional[str]:
    path = _password_path()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def write_smtp_password(password: Optional[str]) -> None:
    """Keep the password in a 0600 file; no password removes the file."""
    path = _password_path()
    if not password:
        path.unlink(missing_ok=True)
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file may have been created with wider rights
        os.write(fd, password.encode("utf-8"))
    finally:
        os.close(fd)


def split_password(url: str) -> tuple[str, Optional[str]]:
    """``smtp://u:p@h`` -> (``smtp://u@h``, ``p``); URLs without a password are returned as they are."""
    parts = urlsplit(url.strip())
    if not parts.scheme.lower().startswith("smtp") or parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


def join_password(url: str, password: Optional[str]) -> str:
    """Put a password back into ``smtp://user@host`` (only where the URL names a user and has none)."""
    if not password:
        return url
    parts = urlsplit(url.strip())
    if not parts.scheme.lower().startswith("smtp") or parts.username is None or parts.password is not None:
        return url
    user, host = parts.netloc.rpartition("@")[0], parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def redact(url: str) -> str:
    bare, password = split_password(url)
    return join_password(bare, "****") if password else url


# -- the settings ------------------------------------------------------------
@dataclass(repr=False)
class AppSettings:
    #: ``sandbox`` or an ``smtp://``, ``smtp+starttls://``, ``smtps://`` URL, password included.
    smtp_url: str = "sandbox"
    tracking_host: str = "127.0.0.1"
    tracking_port: int = 8025
    #: Base URL leads reach the tracking server at; empty: http://tracking_host:tracking_port.
    public_url: str = ""
    db_path: str = field(default_factory=default_db_path)
    #: Campaign seconds per real second in a simulation (3600: an hour per second).
    speed: float = 3600.0
    recent_files: list[str] = field(default_factory=list)

    _KEYS = {"smtp_url": "delivery/smtp_url", "tracking_host": "tracking/host",
             "tracking_port": "tracking/port", "public_url": "tracking/public_url",
             "db_path": "storage/db_path", "speed": "simulation/speed", "recent_files": "files/recent"}

    def __repr__(self) -> str:
        values = ", ".join(f"{f.name}={redact(v) if f.name == 'smtp_url' else v!r}"
                           for f in fields(self) for v in [getattr(self, f.name)])
        return f"AppSettings({values})"

    @classmethod
    def load(cls, qsettings: QSettings) -> AppSettings:
        """Read what was saved; a missing or unreadable value keeps its default."""
        defaults = cls()

        def get(name: str) -> Any:
            return qsettings.value(cls._KEYS[name], getattr(defaults, name))

        def number(name: str, kind: type) -> Any:
            try:
                return kind(get(name))
            except (TypeError, ValueError):
                return getattr(defaults, name)

        recent = get("recent_files")
        if isinstance(recent, str):  # QSettings hands back a one-item list as a string
            recent = [recent] if recent else []
        smtp_url = str(get("smtp_url") or "sandbox")
        return cls(
            smtp_url=join_password(smtp_url, read_smtp_password()),
            tracking_host=str(get("tracking_host") or defaults.tracking_host),
            tracking_port=number("tracking_port", int),
            public_url=str(get("public_url") or ""),
            db_path=str(get("db_path") or defaults.db_path),
            speed=number("speed", float),
            recent_files=[str(p) for p in (recent or [])][:MAX_RECENT],
        )

    def save(self, qsettings: QSettings) -> None:
        bare_url, password = split_password(self.smtp_url)
        write_smtp_password(password)
        qsettings.setValue(self._KEYS["smtp_url"], bare_url)
        qsettings.setValue(self._KEYS["tracking_host"], self.tracking_host)
        qsettings.setValue(self._KEYS["tracking_port"], int(self.tracking_port))
        qsettings.setValue(self._KEYS["public_url"], self.public_url)
        qsettings.setValue(self._KEYS["db_path"], self.db_path)
        qsettings.setValue(self._KEYS["speed"], float(self.speed))
        qsettings.setValue(self._KEYS["recent_files"], list(self.recent_files))
        qsettings.sync()

    def add_recent(self, path: str | os.PathLike[str]) -> None:
        """Put ``path`` first; forget files that no longer exist; keep at most eight."""
        first = str(Path(path).expanduser().resolve())
        rest = [p for p in self.recent_files if str(Path(p).expanduser().resolve()) != first]
        self.recent_files = [p for p in [first, *rest] if Path(p).is_file()][:MAX_RECENT]


# -- validation shared by the dialog ----------------------------------------
def check_public_url(url: str) -> Optional[str]:
    """None when fine (empty is fine), else a sentence saying what to write."""
    text = url.strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return (f"The public URL {text!r} must start with http:// or https:// and name a host, "
                "for example https://track.example.com.")
    return None


def check_db_path(path: str) -> Optional[str]:
    text = path.strip()
    if not text:
        return "Choose where the database lives."
    if text.startswith(("postgresql://", "postgresql+psycopg://", "sqlite:")):
        return None
    parent = Path(text).expanduser().parent
    if not parent.is_dir():
        return f"The folder {str(parent)!r} for the database does not exist; choose another place."
    return None


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]?")

SECURITY = [("none", "None (STARTTLS if offered)", "smtp", 25),
            ("starttls", "STARTTLS", "smtp+starttls", 587),
            ("ssl", "SSL/TLS", "smtps", 465)]


class SettingsDialog(QDialog):
    """Outgoing server, tracking, database and simulation speed; OK only when all of it is usable."""

    def __init__(self, settings: AppSettings, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Mailbranch settings")
        self._original = settings
        layout = QVBoxLayout(self)

        # Outgoing mail
        outgoing = QGroupBox("Outgoing mail")
        out_layout = QVBoxLayout(outgoing)
        self.sandbox_radio = QRadioButton("Built-in sandbox (messages stay on this computer, in the Mailbox)")
        self.smtp_radio = QRadioButton("SMTP server")
        self._mode = QButtonGroup(self)
        self._mode.addButton(self.sandbox_radio)
        self._mode.addButton(self.smtp_radio)
        out_layout.addWidget(self.sandbox_radio)
        out_layout.addWidget(self.smtp_radio)
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
        out_layout.addWidget(self.smtp_box)
        layout.addWidget(outgoing)

        # Tracking
        tracking = QGroupBox("Tracking server")
        tform = QFormLayout(tracking)
        self.tracking_host = QLineEdit(settings.tracking_host)
        self.tracking_port = QSpinBox()
        self.tracking_port.setRange(1, 65535)
        self.tracking_port.setValue(settings.tracking_port if 0 < settings.tracking_port < 65536 else 8025)
        self.public_url = QLineEdit(settings.public_url)
        self.public_url.setPlaceholderText("empty: http://host:port as above")
        tform.addRow("Listen on host", self.tracking_host)
        tform.addRow("Port", self.tracking_port)
        tform.addRow("Public URL", self.public_url)
        layout.addWidget(tracking)

        # Storage and simulation
        other = QGroupBox("Database and simulation")
        oform = QFormLayout(other)
        db_row = QHBoxLayout()
        self.db_path = QLineEdit(settings.db_path)
        self.db_choose = QPushButton("Choose…")
        db_row.addWidget(self.db_path, 1)
        db_row.addWidget(self.db_choose)
        oform.addRow("Database file", db_row)
        self.speed = QDoubleSpinBox()
        self.speed.setRange(1.0, 10_000_000.0)
        self.speed.setDecimals(0)
        self.speed.setSingleStep(600)
        self.speed.setValue(settings.speed)
        self.speed.setSuffix(" × real time")
        self.speed.setToolTip("Campaign seconds per real second: 3600 runs an hour of the campaign each second.")
        oform.addRow("Default simulation speed", self.speed)
        layout.addWidget(other)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self._fill_smtp(settings.smtp_url)
        self._last_default_port = self.smtp_port.value()
        for signal in (self.smtp_host.textChanged, self.smtp_user.textChanged, self.smtp_password.textChanged,
                       self.smtp_ca.textChanged,
                       self.tracking_host.textChanged, self.public_url.textChanged, self.db_path.textChanged):
            signal.connect(self._revalidate)
        self.smtp_port.valueChanged.connect(self._revalidate)
        self.tracking_port.valueChanged.connect(self._revalidate)
        self.smtp_security.currentIndexChanged.connect(self._security_changed)
        self._mode.buttonToggled.connect(self._revalidate)
        self.db_choose.clicked.connect(self._choose_db)
        self._revalidate()

    # -- the outgoing server as fields -------------------------------------
    def _fill_smtp(self, url: str) -> None:
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
        self._revalidate()

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

    # -- validation ----------------------------------------------------------
    def problems(self) -> list[str]:
        """What keeps OK disabled, as sentences for the user."""
        found = []
        if self.smtp_radio.isChecked():
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
        host = self.tracking_host.text().strip()
        if not host or any(c.isspace() for c in host):
            found.append("Enter the host the tracking server listens on, for example 127.0.0.1 or 0.0.0.0.")
        for problem in (check_public_url(self.public_url.text()), check_db_path(self.db_path.text())):
            if problem:
                found.append(problem)
        return found

    def _hide_password(self, message: str) -> str:
        password = self.smtp_password.text()
        if password:
            for form in (quote(password, safe=""), password):
                message = message.replace(form, "****")
        return message

    def _revalidate(self, *_args: object) -> None:
        self.smtp_box.setEnabled(self.smtp_radio.isChecked())
        found = self.problems()
        self.error_label.setText("\n".join(found))
        self.error_label.setVisible(bool(found))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not found)

    def ok_enabled(self) -> bool:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()

    # -- database file ---------------------------------------------------------
    def choose_db_path(self) -> Optional[str]:
        """Ask for the database file; tests replace this."""
        current = Path(self.db_path.text().strip() or default_db_path()).expanduser()
        start = current if not is_private_folder(current.parent) else Path(documents_dir()) / current.name
        path, _ = QFileDialog.getSaveFileName(self, "Database file", str(start),
                                              "Mailbranch database (*.db);;All files (*)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        return path or None

    def _choose_db(self) -> None:
        path = self.choose_db_path()
        if path:
            self.db_path.setText(path)
            self._revalidate()  # the same path again: the folder may exist now

    def result_settings(self) -> AppSettings:
        return AppSettings(
            smtp_url=self.smtp_url(),
            tracking_host=self.tracking_host.text().strip(),
            tracking_port=self.tracking_port.value(),
            public_url=self.public_url.text().strip().rstrip("/"),
            db_path=str(Path(self.db_path.text().strip()).expanduser())
            if not self.db_path.text().strip().startswith(("postgresql", "sqlite:"))
            else self.db_path.text().strip(),
            speed=float(self.speed.value()),
            recent_files=list(self._original.recent_files),
        )

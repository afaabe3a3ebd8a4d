"""``SettingsDialog``: File → Settings, the one place a marketer edits ``AppSettings``.

Outgoing server (its own group, ``app/outgoing_mail_box.py``), the relay
and the bounce mailbox (``relay_box.py``, ``bounce_box.py``), tracking,
database, simulation speed, the default sender and the sending pace. OK stays disabled while any of it is
unusable, with the reasons in sentences under the fields, so a setting
that would stop the engine from starting is never saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
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
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.bounce_box import BounceBox
from app.outgoing_mail_box import OutgoingMailBox
from app.pacing_box import PacingBox
from app.relay_box import RelayBox
from app.sender_box import SenderBox
from app.settings import AppSettings, check_db_path, check_public_url, default_db_path
from editor.window import documents_dir, is_private_folder


class SettingsDialog(QDialog):
    """Outgoing server, tracking, database and simulation speed; OK only when all of it is usable."""

    def __init__(self, settings: AppSettings, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Mailbranch settings")
        self._original = settings
        layout = QVBoxLayout(self)
        self.outgoing = OutgoingMailBox(settings.smtp_url)
        # The relay beside the outgoing server: where mail goes out, where opens and clicks come back.
        self.relay = RelayBox(settings.relay_url)
        # ...and where bounces come back, under the relay.
        self.bounces = BounceBox(settings.bounce_url)
        top = QHBoxLayout()
        top.addWidget(self.outgoing, 3)
        returns = QVBoxLayout()
        returns.addWidget(self.relay)
        returns.addWidget(self.bounces)
        top.addLayout(returns, 2)
        layout.addLayout(top)
        # The sender beside tracking and storage: the dialog must fit a 768-pixel-high laptop screen.
        beside = QHBoxLayout()
        column = QVBoxLayout()
        column.addWidget(self._tracking_group(settings))
        column.addWidget(self._storage_group(settings))
        beside.addLayout(column, 1)
        self.sender = SenderBox(settings)
        self.pacing = PacingBox(settings)
        sending = QVBoxLayout()
        sending.addWidget(self.sender)
        sending.addWidget(self.pacing)
        beside.addLayout(sending, 1)
        layout.addLayout(beside)

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

        self.outgoing.changed.connect(self._revalidate)
        self.sender.changed.connect(self._revalidate)
        self.relay.changed.connect(self._revalidate)
        self.bounces.changed.connect(self._revalidate)
        for signal in (self.tracking_host.textChanged, self.public_url.textChanged, self.db_path.textChanged,
                       self.tracking_port.valueChanged):
            signal.connect(self._revalidate)
        self.db_choose.clicked.connect(self._choose_db)
        self._revalidate()

    def _tracking_group(self, settings: AppSettings) -> QGroupBox:
        tracking = QGroupBox("Tracking server")
        form = QFormLayout(tracking)
        self.tracking_host = QLineEdit(settings.tracking_host)
        self.tracking_port = QSpinBox()
        self.tracking_port.setRange(1, 65535)
        self.tracking_port.setValue(settings.tracking_port if 0 < settings.tracking_port < 65536 else 8025)
        self.public_url = QLineEdit(settings.public_url)
        self.public_url.setPlaceholderText("empty: http://host:port as above")
        form.addRow("Listen on host", self.tracking_host)
        form.addRow("Port", self.tracking_port)
        form.addRow("Public URL", self.public_url)
        return tracking

    def _storage_group(self, settings: AppSettings) -> QGroupBox:
        other = QGroupBox("Database and simulation")
        form = QFormLayout(other)
        db_row = QHBoxLayout()
        self.db_path = QLineEdit(settings.db_path)
        self.db_choose = QPushButton("Choose…")
        db_row.addWidget(self.db_path, 1)
        db_row.addWidget(self.db_choose)
        form.addRow("Database file", db_row)
        self.speed = QDoubleSpinBox()
        self.speed.setRange(1.0, 10_000_000.0)
        self.speed.setDecimals(0)
        self.speed.setSingleStep(600)
        self.speed.setValue(settings.speed)
        self.speed.setSuffix(" × real time")
        self.speed.setToolTip("Campaign seconds per real second: 3600 runs an hour of the campaign each second.")
        form.addRow("Default simulation speed", self.speed)
        return other

    # -- validation ----------------------------------------------------------
    def problems(self) -> list[str]:
        """What keeps OK disabled, as sentences for the user."""
        found = self.outgoing.problems() + self.sender.problems() + self.relay.problems() + self.bounces.problems()
        host = self.tracking_host.text().strip()
        if not host or any(c.isspace() for c in host):
            found.append("Enter the host the tracking server listens on, for example 127.0.0.1 or 0.0.0.0.")
        for problem in (check_public_url(self.public_url.text()), check_db_path(self.db_path.text())):
            if problem:
                found.append(problem)
        return found

    def _revalidate(self, *_args: object) -> None:
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
        db_path = self.db_path.text().strip()
        return AppSettings(
            smtp_url=self.outgoing.smtp_url(),
            tracking_host=self.tracking_host.text().strip(),
            tracking_port=self.tracking_port.value(),
            public_url=self.public_url.text().strip().rstrip("/"),
            db_path=db_path if db_path.startswith(("postgresql", "sqlite:")) else str(Path(db_path).expanduser()),
            speed=float(self.speed.value()),
            recent_files=list(self._original.recent_files),
            **self.sender.values(),
            **self.relay.values(),
            **self.bounces.values(),
            **self.pacing.values(),
        )

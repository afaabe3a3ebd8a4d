"""Before a run: choose the lead list, read the import report, pick a speed, confirm.

The CSV is imported as soon as it is chosen (``Import…`` opens the import
dialog: preview, column mapping, every rejected row), so the marketer sees
how many leads will enter before anything is sent. A real run asks once
more, saying who gets the emails, from whom, through which server (or the
built-in sandbox) and where the links point, with Cancel as the default.
A real run also chooses where opens and clicks arrive: *local only* (links
point to this computer: the sandbox, tests) or *through the relay* at the
URL set in Settings (docs/relay.md), with the relay's state beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.import_dialog import ImportDialog
from app.preflight_panel import PreflightCheck, PreflightPanel
from app.relay_status import RelayStatusLabel
from app.run_view import SPEEDS
from editor.window import documents_dir, is_private_folder
from engine.leads.importer import ImportResult, LeadImportError, import_leads


@dataclass
class RunRequest:
    leads_path: Path
    imported: ImportResult
    simulated: bool
    speed: float = 3600.0
    #: A real run's links point to the public relay (True) or to this computer (False).
    through_relay: bool = False

    def lead_payload(self) -> list[dict]:
        return [{"key": x.key, "email": x.email, "fields": dict(x.fields)} for x in self.imported.leads]


@dataclass
class RunTarget:
    """Where a real run's emails go: the outgoing server (None: the built-in sandbox), the
    tracking server's public URL as recipients reach it, and the flow's senders."""

    outgoing: Optional[str] = None
    public_url: str = ""
    senders: list[str] = field(default_factory=list)
    #: The public tracking relay set in Settings (empty: none).
    relay_url: str = ""
    #: The pre-flight checks of this campaign (leads -> report); None: no panel.
    preflight: Optional[PreflightCheck] = None
    #: Why a real run must not start (no sender domain, no https public URL), one sentence.
    problem: Optional[str] = None
    #: For "Send a test…": the flow file as it will run and the server tests go through.
    flow_json: Optional[dict] = None
    test_smtp: Optional[object] = None

    @property
    def server_text(self) -> str:
        return (f"the outgoing server {self.outgoing}" if self.outgoing
                else "the built-in sandbox (nothing leaves this computer)")

    @property
    def local_links(self) -> bool:
        """Links only this computer can open: recipients elsewhere cannot be counted."""
        host = urlsplit(self.public_url).hostname or ""
        return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def load_leads(path: str | Path, email_column: Optional[str] = None,
               key_column: Optional[str] = None) -> tuple[Optional[ImportResult], str]:
    """The import result, or None and the reason it cannot be read."""
    try:
        return import_leads(path, email_column=email_column, key_column=key_column), ""
    except LeadImportError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"


class RunDialog(QDialog):
    def __init__(self, flow_name: str, simulated: bool, leads_path: Optional[Path],
                 speed: float = 3600.0, parent: Optional[QWidget] = None,
                 target: Optional[RunTarget] = None) -> None:
        super().__init__(parent)
        self.simulated = simulated
        self.flow_name = flow_name
        self.target = target or RunTarget()
        self.result_: Optional[ImportResult] = None
        #: The import dialog's column mapping (None: the importer's own guesses).
        self.email_column: Optional[str] = None
        self.key_column: Optional[str] = None
        self.setWindowTitle(("Simulate " if simulated else "Run ") + f"“{flow_name}”")
        self.path_edit = QLineEdit(str(leads_path or ""))
        browse = QPushButton("Import…")
        browse.setToolTip("Choose a CSV file, see its first rows, say which column holds the addresses")
        browse.clicked.connect(self.open_import)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Leads (CSV)", row)
        self.speed_box = QComboBox()
        for label, value in SPEEDS:
            self.speed_box.addItem(f"{label} of campaign time", value)
        index = self.speed_box.findData(speed)
        self.speed_box.setCurrentIndex(index if index >= 0 else 1)
        if simulated:
            form.addRow("Speed", self.speed_box)
        else:
            form.addRow("Opens and clicks", self._tracking_choice())
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.rejected = QTableWidget(0, 3)
        self.rejected.setHorizontalHeaderLabels(["Line", "Why it was left out", "Row"])
        self.rejected.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.rejected.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self.rejected.setWordWrap(True)
        self.rejected.verticalHeader().setVisible(False)
        self.note = note = QLabel(self.note_text())
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.addButton("Simulate" if simulated else "Run",
                                                   QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        if not simulated and self.target.flow_json is not None and self.target.test_smtp is not None:
            test = self.buttons.addButton("Send a test…", QDialogButtonBox.ButtonRole.ActionRole)
            test.clicked.connect(self.open_test_send)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(self.rejected, 1)
        #: Before a real run: will inboxes accept it? (``app/preflight_panel.py``)
        self.preflight_panel: Optional[PreflightPanel] = None
        if not simulated and self.target.preflight is not None:
            self.preflight_panel = PreflightPanel(lambda: self.target.preflight(self.lead_inputs()))
            layout.addWidget(self.preflight_panel, 1)
        if not simulated and self.target.problem:
            note.setText(f"<span style='color:#D92D20'>Not sending: {self.target.problem}.</span>")
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.path_edit.editingFinished.connect(self.reload)
        self.resize(640, 420)
        self.reload()

    def _tracking_choice(self) -> QWidget:
        """Local only, or through the relay at its URL (with the relay's state)."""
        relay = self.target.relay_url
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        self.local_only = QRadioButton("Local only: links point to this computer (sandbox, tests)")
        self.through_relay = QRadioButton(f"Through the relay at {relay}" if relay else
                                          "Through the relay (set its URL in Settings first)")
        self.through_relay.setEnabled(bool(relay))
        (self.through_relay if relay else self.local_only).setChecked(True)
        column.addWidget(self.local_only)
        column.addWidget(self.through_relay)
        if relay:
            from engine.relay.secrets import installation_sync_secret

            self.relay_status = RelayStatusLabel(relay, installation_sync_secret().decode(), parent=box)
            self.relay_status.setContentsMargins(24, 0, 0, 0)
            self.relay_status.setWordWrap(True)  # "not reachable (why)" must not widen the dialog past the screen
            column.addWidget(self.relay_status)
            self.relay_status.start()
        return box

    def uses_relay(self) -> bool:
        return not self.simulated and bool(self.target.relay_url) and self.through_relay.isChecked()

    def note_text(self) -> str:
        if self.simulated:
            return "Simulations send to the built-in sandbox only; nothing leaves this computer."
        if self.target.outgoing is None:
            return ("Emails go to the built-in sandbox: nothing leaves this computer. To send for real, "
                    "choose an outgoing server in Settings.")
        return f"Emails go out through the outgoing server {self.target.outgoing} (Settings)."

    def start_folder(self) -> str:
        """Where the chooser opens: the chosen list's folder, unless it is the bundled sample's
        (or the data folder): then the user's Documents."""
        current = Path(self.path_edit.text().strip()).expanduser()
        folder = current.parent if current.name else current
        return str(folder) if folder.is_dir() and not is_private_folder(folder) else documents_dir()

    def import_dialog(self) -> ImportDialog:
        """The import dialog on the current file (Choose… inside it picks another)."""
        path = self.path_edit.text().strip()
        if not path:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose the lead list", self.start_folder(),
                                                    "CSV files (*.csv);;All files (*)")
            path = chosen
        return ImportDialog(path or None, self, self.email_column, self.key_column)

    def open_import(self) -> None:
        dialog = self.import_dialog()
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.take_import(dialog)

    def take_import(self, dialog: ImportDialog) -> None:
        """The file and column mapping the import dialog ended with."""
        self.path_edit.setText(dialog.path)
        self.email_column, self.key_column = dialog.email_column, dialog.key_column
        self.reload()

    def _browse(self) -> None:
        self.open_import()

    def reload(self) -> None:
        result, error = load_leads(self.path_edit.text().strip(), self.email_column, self.key_column) \
            if self.path_edit.text().strip() else \
            (None, "Choose a CSV file of leads (one column must hold email addresses).")
        if result is None and self.email_column is not None:  # another file: the importer's own guesses
            self.email_column = self.key_column = None
            result, error = load_leads(self.path_edit.text().strip())
        if result is None and "no 'email' column" in error:
            error += " Or click Import… and choose the column that holds the addresses."
        self.result_ = result
        self.rejected.setRowCount(0)
        if result is None:
            self.summary.setText(f"<span style='color:#D92D20'>{error}</span>")
        else:
            self.summary.setText(f"<b>{len(result.leads)} leads will enter.</b> {result.summary()}.")
            for r in result.rejected:
                i = self.rejected.rowCount()
                self.rejected.insertRow(i)
                for col, value in enumerate((str(r.line), r.reason, str(r.raw))):
                    item = QTableWidgetItem(value)
                    item.setToolTip(value)  # the whole reason, however narrow the column
                    self.rejected.setItem(i, col, item)
            self.rejected.resizeRowsToContents()
        self.rejected.setVisible(bool(result and result.rejected))
        self.start_button.setEnabled(bool(result and result.leads) and (self.simulated or not self.target.problem))
        if self.preflight_panel is not None and result is not None:
            self.preflight_panel.start()

    def test_send_dialog(self):
        """One email of the campaign, with a lead's fields, to the marketer (``app/test_send_dialog.py``)."""
        from app.test_send_dialog import TestSendDialog

        leads = self.result_.leads if self.result_ is not None else []
        return TestSendDialog(self.target.flow_json or {}, leads, self.target.test_smtp, self)

    def open_test_send(self) -> None:
        self.test_send_dialog().exec()

    def lead_inputs(self) -> Optional[list]:
        """The imported leads as the engine takes them (for pre-flight's emails-a-day)."""
        from engine.run.engine import LeadInput

        if self.result_ is None:
            return None
        return [LeadInput(x.key, x.email, dict(x.fields)) for x in self.result_.leads]

    # -- the confirmation of a real run ---------------------------------------------
    def confirmation_text(self) -> tuple[str, str]:
        """The question and the details: who, from whom, through what, links where."""
        count = len(self.result_.leads) if self.result_ else 0
        people = f"{count} {'person' if count == 1 else 'people'}"
        senders = self.target.senders or ["the sender set on the email steps"]
        question = (f"Send “{self.flow_name}” to {people} from {' and '.join(senders)} through "
                    f"{self.target.server_text}?")
        if self.uses_relay():
            details = (f"Links and the open pixel point to the relay at {self.target.relay_url}; this computer "
                       "pulls the opens and clicks from it. The first emails go out as soon as you confirm.")
            return question, details
        details = (f"Links and the open pixel point to {self.target.public_url or 'the tracking server'}. "
                   "The first emails go out as soon as you confirm.")
        if self.target.outgoing and self.target.local_links:
            details += (" That address only works on this computer: opens and clicks of recipients elsewhere "
                        "will not be counted. Set the public URL in Settings first.")
        return question, details

    def send_question(self) -> QMessageBox:
        question, details = self.confirmation_text()
        box = QMessageBox(QMessageBox.Icon.Question, "Send this campaign?", question,
                          QMessageBox.StandardButton.NoButton, self)
        box.setInformativeText(details)
        count = len(self.result_.leads) if self.result_ else 0
        box.addButton(f"Send to {count}", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        return box

    def confirm_send(self) -> bool:
        """Ask before a real run sends anything; True to go ahead. Overridable (tests answer it)."""
        box = self.send_question()
        box.exec()
        return box.buttonRole(box.clickedButton()) == QMessageBox.ButtonRole.AcceptRole

    def accept(self) -> None:
        if not self.simulated and not self.confirm_send():
            return
        super().accept()

    def request(self) -> Optional[RunRequest]:
        if self.result_ is None:
            return None
        return RunRequest(Path(self.path_edit.text().strip()), self.result_, self.simulated,
                          float(self.speed_box.currentData()), through_relay=self.uses_relay())

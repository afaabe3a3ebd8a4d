"""Before a run: choose the lead list, read the import report, pick a speed.

The CSV is imported as soon as it is chosen, so the marketer sees how many
leads will enter and every rejected row (line number, reason, the row
itself) before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

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
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.run_view import SPEEDS
from editor.window import documents_dir, is_private_folder
from engine.leads.importer import ImportResult, LeadImportError, import_leads


@dataclass
class RunRequest:
    leads_path: Path
    imported: ImportResult
    simulated: bool
    speed: float = 3600.0

    def lead_payload(self) -> list[dict]:
        return [{"key": x.key, "email": x.email, "fields": dict(x.fields)} for x in self.imported.leads]


def load_leads(path: str | Path) -> tuple[Optional[ImportResult], str]:
    """The import result, or None and the reason it cannot be read."""
    try:
        return import_leads(path), ""
    except LeadImportError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"{path}: {exc.strerror or exc}"


class RunDialog(QDialog):
    def __init__(self, flow_name: str, simulated: bool, leads_path: Optional[Path],
                 speed: float = 3600.0, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.simulated = simulated
        self.result_: Optional[ImportResult] = None
        self.setWindowTitle(("Simulate " if simulated else "Run ") + f"“{flow_name}”")
        self.path_edit = QLineEdit(str(leads_path or ""))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
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
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.rejected = QTableWidget(0, 3)
        self.rejected.setHorizontalHeaderLabels(["Line", "Why it was left out", "Row"])
        self.rejected.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.rejected.verticalHeader().setVisible(False)
        note = QLabel("Simulations send to the built-in sandbox only; nothing leaves this computer."
                      if simulated else "Emails go out through the SMTP server in Settings.")
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.addButton("Simulate" if simulated else "Run",
                                                   QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addWidget(self.rejected, 1)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.path_edit.editingFinished.connect(self.reload)
        self.resize(640, 420)
        self.reload()

    def start_folder(self) -> str:
        """Where the chooser opens: the chosen list's folder, unless it is the bundled sample's
        (or the data folder): then the user's Documents."""
        current = Path(self.path_edit.text().strip()).expanduser()
        folder = current.parent if current.name else current
        return str(folder) if folder.is_dir() and not is_private_folder(folder) else documents_dir()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the lead list", self.start_folder(),
                                              "CSV files (*.csv);;All files (*)")
        if path:
            self.path_edit.setText(path)
            self.reload()

    def reload(self) -> None:
        result, error = load_leads(self.path_edit.text().strip()) if self.path_edit.text().strip() else \
            (None, "Choose a CSV file of leads (one column must hold email addresses).")
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
                    self.rejected.setItem(i, col, QTableWidgetItem(value))
        self.rejected.setVisible(bool(result and result.rejected))
        self.start_button.setEnabled(bool(result and result.leads))

    def request(self) -> Optional[RunRequest]:
        if self.result_ is None:
            return None
        return RunRequest(Path(self.path_edit.text().strip()), self.result_, self.simulated,
                          float(self.speed_box.currentData()))

"""Import leads: choose a CSV, see its first rows, say which column is which, read every rejected row.

A marketer's export rarely has the headers the importer looks for
("E-Mail-Adresse", "Kundennummer"), so the dialog shows the file as a table
and lets them pick the column that holds the addresses and the one that
holds each lead's id; every other column becomes a lead field that
templates can use (``{{ first_name }}``). The import runs again on every
change, and every row left out is listed with its line and the whole
reason, which can be copied or saved as a CSV (through the project's
CSV-safe writer, so a hostile value never becomes a spreadsheet formula).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
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

from editor.window import documents_dir, is_private_folder
from engine.leads.csv_safe import safe_writer
from engine.leads.importer import ImportResult, LeadImportError, decode, field_name, import_leads, preview

#: Rows shown in the preview.
PREVIEW_ROWS = 10
#: The key combo's first entry: each lead's id is its address.
NO_KEY = ""
REJECTED_HEADERS = ["Line", "Why it was left out", "Row as written"]


def rejected_csv(result: ImportResult) -> str:
    """The rejected rows as CSV (line, reason, row), safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = safe_writer(buffer)
    writer.writerow(["line", "reason", "row"])
    for r in result.rejected:
        writer.writerow([r.line, r.reason, r.raw])
    return buffer.getvalue()


def rejected_text(result: ImportResult) -> str:
    """The rejected rows as lines a person reads (and pastes into an email to whoever made the file)."""
    return "\n".join(f"line {r.line}: {r.reason}" + (f" — {r.raw}" if r.raw else "") for r in result.rejected)


class ImportDialog(QDialog):
    def __init__(self, path: Optional[str | Path] = None, parent: Optional[QWidget] = None,
                 email_column: Optional[str] = None, key_column: Optional[str] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import leads")
        self.result_: Optional[ImportResult] = None
        self.error = ""
        self.headers: list[str] = []
        self._filling = False

        self.path_edit = QLineEdit(str(path or ""))
        self.path_edit.setPlaceholderText("A CSV file exported from a spreadsheet")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)

        self.email_box = QComboBox()
        self.email_box.setToolTip("The column that holds each lead's email address")
        self.key_box = QComboBox()
        self.key_box.setToolTip("The column that identifies each lead (a customer number); without one, "
                                "the address is the lead's id")
        self.fields_label = QLabel()
        self.fields_label.setWordWrap(True)
        self.fields_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout()
        form.addRow("Lead file", row)
        form.addRow("Email addresses in", self.email_box)
        form.addRow("Lead id in", self.key_box)
        form.addRow("Lead fields", self.fields_label)

        self.preview_label = QLabel(f"First {PREVIEW_ROWS} rows as written")
        self.preview = QTableWidget(0, 0)
        self.preview.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview.verticalHeader().setVisible(False)
        self.preview.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.preview.setMinimumHeight(120)

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rejected = QTableWidget(0, 3)
        self.rejected.setHorizontalHeaderLabels(REJECTED_HEADERS)
        self.rejected.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.rejected.setWordWrap(True)
        self.rejected.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.rejected.verticalHeader().setVisible(False)
        header = self.rejected.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self.rejected.setColumnWidth(2, 240)
        self.rejected.setMinimumHeight(110)
        QShortcut(QKeySequence.StandardKey.Copy, self.rejected, activated=self.copy_rejected)
        self.copy_button = QPushButton("Copy rejected rows")
        self.copy_button.setToolTip("Copy every rejected row with its line and reason")
        self.copy_button.clicked.connect(self.copy_rejected)
        self.export_button = QPushButton("Save rejected rows…")
        self.export_button.setToolTip("Save the rejected rows as a CSV file")
        self.export_button.clicked.connect(self.export_rejected)
        tools = QHBoxLayout()
        tools.addWidget(self.summary, 1)
        tools.addWidget(self.copy_button)
        tools.addWidget(self.export_button)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.addButton("Use these leads", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.preview, 2)
        layout.addLayout(tools)
        layout.addWidget(self.rejected, 2)
        layout.addWidget(self.buttons)
        self.resize(820, 600)

        self.path_edit.editingFinished.connect(self.load_file)
        self.email_box.currentIndexChanged.connect(self._mapping_changed)
        self.key_box.currentIndexChanged.connect(self._mapping_changed)
        self.load_file(email_column, key_column)

    # -- the file ----------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.path_edit.text().strip()

    def start_folder(self) -> str:
        current = Path(self.path).expanduser()
        folder = current.parent if current.name else current
        return str(folder) if folder.is_dir() and not is_private_folder(folder) else documents_dir()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the lead list", self.start_folder(),
                                              "CSV files (*.csv);;All files (*)")
        if path:
            self.path_edit.setText(path)
            self.load_file()

    def load_file(self, email_column: Optional[str] = None, key_column: Optional[str] = None) -> None:
        """Read the file's header and first rows, fill the mapping, import."""
        self.headers = []
        rows: list[list[str]] = []
        self.error = ""
        if not self.path:
            self.error = "Choose a CSV file of leads: one column must hold email addresses."
        else:
            try:
                text, _encoding = decode(Path(self.path).expanduser().read_bytes())
                _delimiter, self.headers, rows = preview(text, PREVIEW_ROWS)
            except OSError as exc:
                self.error = f"Cannot read {self.path}: {exc.strerror or exc}."
        self._fill_preview(rows)
        self._fill_mapping(email_column, key_column, rows)
        self.reimport()

    def _fill_preview(self, rows: list[list[str]]) -> None:
        width = max([len(self.headers), *(len(r) for r in rows)], default=0)
        self.preview.clear()
        self.preview.setColumnCount(width)
        self.preview.setRowCount(len(rows))
        self.preview.setHorizontalHeaderLabels(
            [self.headers[i] if i < len(self.headers) else "" for i in range(width)])
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.preview.setItem(i, j, item)
        self.preview.resizeColumnsToContents()

    def _fill_mapping(self, email_column: Optional[str], key_column: Optional[str],
                      rows: list[list[str]]) -> None:
        """Columns by their template names; the importer's own guesses unless told otherwise."""
        self._filling = True
        try:
            self.email_box.clear()
            self.key_box.clear()
            self.key_box.addItem("None: each lead's id is its address", NO_KEY)
            names = [field_name(h) or f"column_{i + 1}" for i, h in enumerate(self.headers)]
            for header, name in zip(self.headers, names, strict=True):
                label = header.strip() if field_name(header) == header.strip() else f"{header.strip()} ({name})"
                self.email_box.addItem(label or name, name)
                self.key_box.addItem(label or name, name)
            guess = next((n for n in names if n in ("email", "e_mail", "email_address", "e_mail_address")), None)
            if guess is None:  # no header says so: the column whose first values look like addresses
                looks = [sum("@" in (r[i] if i < len(r) else "") for r in rows) for i in range(len(names))]
                guess = names[looks.index(max(looks))] if looks and max(looks) else None
            self._select(self.email_box, email_column or guess or (names[0] if names else None))
            self._select(self.key_box, key_column if key_column is not None else ("id" if "id" in names else NO_KEY))
        finally:
            self._filling = False

    @staticmethod
    def _select(box: QComboBox, value: Optional[str]) -> None:
        index = box.findData(value) if value is not None else -1
        if index >= 0:
            box.setCurrentIndex(index)

    def _mapping_changed(self, _index: int = 0) -> None:
        if not self._filling:
            self.reimport()

    @property
    def email_column(self) -> Optional[str]:
        return self.email_box.currentData()

    @property
    def key_column(self) -> Optional[str]:
        return self.key_box.currentData()

    # -- the import --------------------------------------------------------------
    def reimport(self) -> None:
        result: Optional[ImportResult] = None
        error = self.error
        if not error and self.email_column:
            try:
                result = import_leads(Path(self.path).expanduser(), email_column=self.email_column,
                                      key_column=self.key_column)
            except LeadImportError as exc:
                error = str(exc)
        elif not error:
            error = "The file has no columns to take addresses from."
        self.result_ = result
        self._show(result, error)

    def _show(self, result: Optional[ImportResult], error: str) -> None:
        self.rejected.setRowCount(0)
        others = [self.email_box.itemData(i) for i in range(self.email_box.count())
                  if self.email_box.itemData(i) != self.email_column]
        self.fields_label.setText(", ".join(others) if others else "none (only the address)")
        self.fields_label.setToolTip("Every column other than the address becomes a lead field, used in templates "
                                     "as {{ name }}")
        if result is None:
            self.summary.setText(f"<span style='color:#D92D20'>{error}</span>")
        else:
            self.summary.setText(f"<b>{len(result.leads)} leads will enter.</b> {result.summary()}.")
            for r in result.rejected:
                i = self.rejected.rowCount()
                self.rejected.insertRow(i)
                for col, value in enumerate((str(r.line), r.reason, r.raw)):
                    item = QTableWidgetItem(value)
                    item.setToolTip(value)
                    self.rejected.setItem(i, col, item)
            self.rejected.resizeRowsToContents()
        has_rejected = bool(result and result.rejected)
        self.rejected.setVisible(has_rejected)
        self.copy_button.setEnabled(has_rejected)
        self.export_button.setEnabled(has_rejected)
        self.ok_button.setEnabled(bool(result and result.leads))

    def rejected_rows(self) -> list[tuple[str, str, str]]:
        """What the rejected table shows, row by row (line, reason, row)."""
        return [tuple(self.rejected.item(i, c).text() for c in range(3))  # type: ignore[misc]
                for i in range(self.rejected.rowCount())]

    def copy_rejected(self) -> None:
        """The selected rejected rows (all of them when none is selected) to the clipboard."""
        if self.result_ is None or not self.result_.rejected:
            return
        chosen = sorted({index.row() for index in self.rejected.selectedIndexes()})
        rows = [self.result_.rejected[i] for i in chosen] if chosen else self.result_.rejected
        QGuiApplication.clipboard().setText(rejected_text(ImportResult(rejected=list(rows))))

    def export_rejected(self, path: Optional[str] = None) -> Optional[Path]:
        """Save the rejected rows as CSV (asks where unless told); the path written, or None."""
        if self.result_ is None or not self.result_.rejected:
            return None
        if path is None:
            suggested = str(Path(self.start_folder()) / (Path(self.path).stem + "-rejected.csv"))
            path, _ = QFileDialog.getSaveFileName(self, "Save the rejected rows", suggested, "CSV files (*.csv)")
            if not path:
                return None
        target = Path(path)
        try:
            target.write_text(rejected_csv(self.result_), encoding="utf-8-sig", newline="")
        except OSError as exc:
            self.summary.setText(f"<span style='color:#D92D20'>Cannot save {target}: {exc.strerror or exc}.</span>")
            return None
        return target

    def imported(self) -> Optional[ImportResult]:
        return self.result_

"""The installation's suppression list: who no campaign may email, and why.

An unsubscribe, a hard bounce or a complaint from any campaign puts the
address here (SEMANTICS 12), and every later send to it is skipped. The
marketer can search the list, export it (to keep or to hand to another
tool), import one (from a previous tool), add an address by hand, and take
an address off the list, which only happens after a confirmation that
names every address.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.client import EngineError

COLUMNS = ["Address", "Reason", "Since", "Note"]
ADDRESS, REASON, SINCE, NOTE = range(len(COLUMNS))
REASON_TEXT = {"unsubscribe": "Unsubscribed", "bounce": "Hard bounce", "complaint": "Spam complaint",
               "manual": "Added by hand", "import": "Imported"}
#: How many entries one page shows; a search narrows a longer list.
PAGE = 1000


def _when(ms: Optional[int]) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


class SuppressionView(QWidget):
    """A searchable table of the list, with Add, Import, Export and Remove."""

    def __init__(self, client: Any, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.client = client
        self.entries: list[dict] = []
        self.total = 0
        self._tasks: set[asyncio.Task] = set()

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search addresses and notes")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(lambda: self._spawn(self.refresh()))
        self.search.textChanged.connect(lambda _t: self._search_timer.start())

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        for column in (REASON, SINCE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ADDRESS, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(ADDRESS, 260)
        header.setSectionResizeMode(NOTE, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Suppress an address by hand")
        self.add_button.clicked.connect(self._ask_add)
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Add the addresses of a CSV file (an email column; reason, at, note optional)")
        self.import_button.clicked.connect(self._ask_import)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the whole list as CSV (email, reason, at, note)")
        self.export_button.clicked.connect(self._ask_export)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("Take the selected addresses off the list: later campaigns may email them")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(lambda: self._spawn(self.remove_selected()))
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda: self._spawn(self.refresh()))

        self.count_label = QLabel("")
        self.status = QLabel("Addresses here get no email from any campaign.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.refresh_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.count_label, 1)
        for button in (self.add_button, self.import_button, self.export_button, self.remove_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

    # -- background work -------------------------------------------------------
    def _spawn(self, coro) -> None:
        """Run ``coro`` on the qasync loop, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the list ------------------------------------------------------------------
    async def refresh(self) -> None:
        """Reload the entries matching the search, keeping the selection where it can."""
        selected = set(self.selected_addresses())
        try:
            data = await self.client.suppressions(self.search.text().strip(), 0, PAGE)
        except EngineError as exc:
            self.status.setText(f"Cannot read the suppression list: {exc}")
            return
        self.entries, self.total = list(data["entries"]), int(data["total"])
        self.table.blockSignals(True)
        try:
            self.table.clearSelection()
            self.table.setRowCount(len(self.entries))
            for row, e in enumerate(self.entries):
                cells = [e["email"], REASON_TEXT.get(e["reason"], e["reason"]), _when(e.get("at")), e.get("note") or ""]
                for column, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    item.setData(Qt.ItemDataRole.UserRole, e["email"])
                    item.setToolTip(text)
                    self.table.setItem(row, column, item)
                if e["email"] in selected:
                    self.table.selectRow(row)
        finally:
            self.table.blockSignals(False)
        self._selection_changed()
        shown = len(self.entries)
        if not self.total:
            self.count_label.setText("The list is empty: every address can be emailed.")
        elif self.search.text().strip():
            self.count_label.setText(f"{shown} of {self.total} address{'es' if self.total != 1 else ''} match")
        elif shown < self.total:
            self.count_label.setText(f"The newest {shown} of {self.total} addresses (search to find others)")
        else:
            self.count_label.setText(f"{self.total} address{'es' if self.total != 1 else ''} suppressed")

    def addresses(self) -> list[str]:
        return [e["email"] for e in self.entries]

    def selected_addresses(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.entries[row]["email"] for row in rows if row < len(self.entries)]

    def select_addresses(self, addresses: list[str]) -> None:
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row, e in enumerate(self.entries):
            if e["email"] in addresses:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def _selection_changed(self) -> None:
        count = len(self.selected_addresses())
        self.remove_button.setEnabled(count > 0)
        self.remove_button.setText(f"Remove {count}…" if count > 1 else "Remove…")

    # -- removing, only on purpose ---------------------------------------------------
    def confirm_removal(self, addresses: list[str]) -> bool:
        """Ask, naming every address (the first twenty and a count of the rest)."""
        shown = "\n".join(addresses[:20]) + (f"\n… and {len(addresses) - 20} more" if len(addresses) > 20 else "")
        answer = QMessageBox.question(
            self, "Remove from the suppression list",
            f"Later campaigns will be able to email {'this address' if len(addresses) == 1 else 'these addresses'} "
            f"again:\n\n{shown}\n\nOnly do this if the person asked for it. Remove?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    async def remove_selected(self) -> list[str]:
        addresses = self.selected_addresses()
        if not addresses or not self.confirm_removal(addresses):
            return []
        try:
            removed = await self.client.unsuppress(addresses)
        except EngineError as exc:
            self.status.setText(f"Nothing was removed: {exc}")
            return []
        self.status.setText(f"Removed {', '.join(removed)}." if removed else "Nothing was removed.")
        await self.refresh()
        return removed

    # -- adding, importing, exporting ------------------------------------------------
    def _ask_add(self) -> None:
        address, ok = QInputDialog.getText(self, "Suppress an address", "Address that must get no more email:")
        if ok and address.strip():
            self._spawn(self.add([address.strip()]))

    async def add(self, addresses: list[str], note: Optional[str] = None) -> bool:
        try:
            result = await self.client.suppress(addresses, note)
        except EngineError as exc:
            self.status.setText(f"Not added: {exc}")
            return False
        self.status.setText(f"Added {result['added']}; {result['already']} already on the list.")
        await self.refresh()
        return True

    def _ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a suppression list", "", "CSV files (*.csv);;All files (*)")
        if path:
            self._spawn(self.import_from(Path(path)))

    async def import_from(self, path: Path) -> Optional[dict]:
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            self.status.setText(f"Cannot read {path.name}: {exc.strerror or exc}")
            return None
        except UnicodeDecodeError:
            self.status.setText(f"{path.name} is not UTF-8 text: save it as “CSV UTF-8” and import it again.")
            return None
        try:
            result = await self.client.import_suppressions(text)
        except EngineError as exc:
            self.status.setText(f"Nothing was imported: {exc}")
            return None
        lines = "; ".join(f"line {r['line']}: {r['reason']}" for r in result["rejected"][:5])
        more = f" (and {len(result['rejected']) - 5} more)" if len(result["rejected"]) > 5 else ""
        self.status.setText(f"{path.name}: {result['summary']}." + (f" Left out: {lines}{more}." if lines else ""))
        await self.refresh()
        return result

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the suppression list", "suppression-list.csv",
                                              "CSV files (*.csv)")
        if path:
            self._spawn(self.export_to(Path(path)))

    async def export_to(self, path: Path) -> bool:
        try:
            text = await self.client.export_suppressions()
        except EngineError as exc:
            self.status.setText(f"Cannot export: {exc}")
            return False
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self.status.setText(f"Cannot write {path}: {exc.strerror or exc}")
            return False
        count = max(0, len(text.splitlines()) - 1)
        self.status.setText(f"Saved {count} address{'es' if count != 1 else ''} to {path}.")
        return True

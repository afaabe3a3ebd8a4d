"""Picking an IANA time zone: typed ("Paris" finds Europe/Paris anywhere in the
name) or chosen from the list; used by a send window and the campaign page."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QCompleter


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    return tuple(sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))))


class ZoneBox(QComboBox):
    """An IANA time zone typed or picked (the completer finds "Paris" anywhere in the name);
    the first entry, empty, means "inherit"."""

    chosen = Signal(str)

    def __init__(self, empty: str) -> None:
        super().__init__()
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.addItem("")
        self.addItems(["UTC", *zone_names()])
        self.lineEdit().setPlaceholderText(empty)
        completer = QCompleter(["UTC", *zone_names()], self)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setCompleter(completer)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)
        self.activated.connect(lambda _i: self.chosen.emit(self.currentText().strip()))
        self.lineEdit().editingFinished.connect(lambda: self.chosen.emit(self.currentText().strip()))

    def show_zone(self, name: str) -> None:
        if self.currentText() != name:
            self.setEditText(name)

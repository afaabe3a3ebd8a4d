"""CSV that a spreadsheet opens as data, never as formulas (OWASP "CSV Injection").

Lead values come from outside: a lead called ``=HYPERLINK("http://evil",
"Click")`` or ``@SUM(1+1)*cmd|' /C calc'!A0`` becomes a live formula when
the marketer opens an export in Excel or LibreOffice. OWASP's advice is to
prefix any cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return with a single quote, which spreadsheets show as text; the
csv module already quotes cells holding the separator, quotes or line
breaks. Numbers are written as they are (a number cannot be a formula, and
``-3`` must stay a number). Every CSV the product writes goes through
``safe_writer`` (or ``neutralise`` per cell); ``restore`` undoes the prefix
where our own export is read back.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

#: What a spreadsheet may read as the start of a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """The cell as text a spreadsheet shows literally; numbers and None pass through."""
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_PREFIXES):
        return "'" + value  # also before quotes already there, so ``restore`` can tell them apart
    return value


def restore(value: str) -> str:
    """Undo ``neutralise`` on a cell read back from one of our exports."""
    if value.startswith("'") and value.lstrip("'").startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


class SafeWriter:
    """``csv.writer`` whose every text cell goes through ``neutralise``."""

    def __init__(self, stream: TextIO, **formatting: Any) -> None:
        self._writer = csv.writer(stream, **formatting)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_writer(stream: TextIO, **formatting: Any) -> SafeWriter:
    """A CSV writer for anything the product exports (same options as ``csv.writer``)."""
    return SafeWriter(stream, **formatting)

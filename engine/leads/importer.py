"""Importing leads from the CSV a spreadsheet program exports.

The marketer's file is messy: a BOM, semicolons, Windows line ends, Latin-1
from an old Excel, a typo in an address, the same person twice. Every row is
accounted for: it becomes a lead, is merged into an earlier row with the
same address, is rejected with its line number and the reason, or is
counted as blank. One bad row never stops the good ones.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

from email_validator import EmailNotValidError, validate_email

_DELIMITERS = ",;\t"
_EMAIL_HEADERS = ("email", "e-mail", "email address", "e-mail address")


class LeadImportError(Exception):
    """The file as a whole cannot be imported; the message says why and what to do."""


@dataclass(frozen=True)
class LeadRecord:
    """One lead: ``key`` is its id (the ``id`` column, else the address in lower case)."""

    key: str
    email: str
    fields: dict[str, str]
    line: int


@dataclass(frozen=True)
class Merge:
    """A row whose address was already imported: it filled in the earlier lead.

    ``filled`` names fields it supplied; ``conflicts`` names fields where it
    disagreed with the earlier row (the earlier value was kept).
    """

    line: int
    into_line: int
    email: str
    filled: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str
    raw: str


@dataclass
class ImportResult:
    leads: list[LeadRecord] = field(default_factory=list)
    merged: list[Merge] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    blank_lines: list[int] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str = ","
    columns: tuple[str, ...] = ()

    def summary(self) -> str:
        text = f"{len(self.leads)} added, {len(self.merged)} merged, {len(self.rejected)} rejected"
        if self.blank_lines:
            text += f", {len(self.blank_lines)} blank rows skipped"
        return text


def import_leads(source: Union[str, Path, bytes], *, check_deliverability: bool = False,
                 email_column: Optional[str] = None, key_column: Optional[str] = None) -> ImportResult:
    """Import a lead CSV from a path or from the file's bytes (columns as in ``parse_leads``)."""
    if isinstance(source, bytes):
        data = source
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise LeadImportError(f"Cannot read the lead file {source}: {exc.strerror or exc}.") from exc
    text, encoding = decode(data)
    result = parse_leads(text, check_deliverability=check_deliverability, email_column=email_column,
                         key_column=key_column)
    result.encoding = encoding
    return result


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are read as such; bytes
    that are not UTF-8 come from a legacy spreadsheet, read as Windows-1252,
    or Latin-1 for the few bytes 1252 leaves undefined.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def field_name(header: str) -> str:
    """A template-friendly name for a column: ``First Name`` -> ``first_name``."""
    name = re.sub(r"\W+", "_", header.strip().lower()).strip("_")
    if name and name[0].isdigit():
        name = "_" + name
    return name


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def _email_column(headers: list[str]) -> Optional[int]:
    lowered = [h.strip().lower() for h in headers]
    for candidate in _EMAIL_HEADERS:
        if candidate in lowered:
            return lowered.index(candidate)
    return None


def _choose_delimiter(text: str) -> str:
    """The delimiter under which the header has an email column.

    csv.Sniffer guesses first; if its guess does not reveal an email column
    (it can be fooled by commas inside values), the others are tried.
    """
    order: list[str] = []
    try:
        order.append(csv.Sniffer().sniff(text[:65536], delimiters=_DELIMITERS).delimiter)
    except csv.Error:
        pass
    header_line = _first_line(text)
    order += sorted(_DELIMITERS, key=lambda d: -header_line.count(d))
    for delimiter in order:
        headers = next(csv.reader([header_line], delimiter=delimiter), [])
        if _email_column(headers) is not None:
            return delimiter
    return order[0]


def _column_names(headers: list[str]) -> list[str]:
    names: list[str] = []
    for index, header in enumerate(headers):
        name = field_name(header) or f"column_{index + 1}"
        if name in names:
            raise LeadImportError(
                f"Two columns are both called '{name}' (column {names.index(name) + 1} and {index + 1}). "
                "Rename one of them and import again."
            )
        names.append(name)
    return names


def preview(text: str, rows: int = 10) -> tuple[str, list[str], list[list[str]]]:
    """The delimiter, the header and the first rows as the importer reads them, for a preview.

    Lines that cannot be read as CSV are shown as they are, in one cell.
    """
    text = text.lstrip("\ufeff")
    delimiter = _choose_delimiter(text) if text.strip() else ","
    lines = [line for line in text.splitlines() if line.strip()]
    table = [next(csv.reader([line], delimiter=delimiter), []) if "\0" not in line else [line]
             for line in lines[:rows + 1]]
    return delimiter, (table[0] if table else []), table[1:]


def parse_leads(text: str, *, check_deliverability: bool = False, email_column: Optional[str] = None,
                key_column: Optional[str] = None) -> ImportResult:
    """Import leads from the text of a CSV file.

    ``email_column`` and ``key_column`` name columns as ``field_name`` does
    (the import dialog's mapping): without them the email column is found by
    its header and the key is the ``id`` column if there is one; a
    ``key_column`` of ``""`` makes every lead's key its address.
    """
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise LeadImportError("The lead file is empty. Export the spreadsheet with a header row and an email column.")
    delimiter = _choose_delimiter(text)
    # Physical lines, split where csv splits them, so a run of rows can be read again from any line.
    lines = list(io.StringIO(text, newline=""))
    reader = csv.reader(iter(lines), delimiter=delimiter)
    result = ImportResult(delimiter=delimiter)
    try:
        header_line, headers = reader.line_num, next(reader)
        while not any(h.strip() for h in headers):
            header_line, headers = reader.line_num, next(reader)
    except StopIteration:
        raise LeadImportError("The lead file has no header row.") from None
    except csv.Error as exc:
        raise LeadImportError(f"The header row cannot be read as CSV: {exc}.") from None
    if _quotes_unbalanced(lines[header_line:reader.line_num]):
        raise LeadImportError(
            f"A quote (\") in the header row on line {header_line + 1} is never closed. "
            "Remove it or close it, and import again.")
    email_index = _email_column(headers)
    if email_column is not None:
        mapped = [field_name(h) or f"column_{i + 1}" for i, h in enumerate(headers)]
        if email_column not in mapped:
            raise LeadImportError(f"The lead file has no column '{email_column}' to take the addresses from.")
        email_index = mapped.index(email_column)
    if email_index is None:
        shown = ", ".join(repr(h) for h in headers[:8]) or "none"
        raise LeadImportError(
            f"The lead file has no 'email' column (columns found: {shown}). "
            "Add a column headed 'email' with one address per row."
        )
    names = _column_names(headers)
    result.columns = tuple(names)
    if key_column and key_column not in names:
        raise LeadImportError(f"The lead file has no column '{key_column}' to take the lead ids from.")
    importer = _Importer(result, names, email_index, check_deliverability, key_column)
    start = reader.line_num
    while start < len(lines):
        start = _read_rows(lines, start, delimiter, importer)
    return result


def _read_rows(lines: list[str], start: int, delimiter: str, importer: _Importer) -> int:
    """Import the rows from line index ``start`` on; where to read again from, or the end.

    A quote that opens a value and never closes makes csv read every
    following line into that one value. Such a row is rejected with its
    line, and reading starts afresh on the line after it, so the rows it
    would have swallowed are imported or reported one by one.
    """
    reader = csv.reader(itertools.islice(lines, start, None), delimiter=delimiter)
    while True:
        first = start + reader.line_num  # index of the line this row starts on
        try:
            row = next(reader)
        except StopIteration:
            return len(lines)
        except csv.Error as exc:  # e.g. a NUL byte: the rest of the line is unreadable
            importer.result.rejected.append(Rejection(first + 1, f"the row cannot be read as CSV: {exc}", ""))
            continue
        end = start + reader.line_num
        if end - first > 1:
            problem = _swallowing_quote(lines, first, end, delimiter, importer)
            if problem:
                importer.result.rejected.append(Rejection(first + 1, problem, lines[first].rstrip("\r\n")))
                return first + 1
        importer.add(row, first + 1, delimiter)


def _quotes_unbalanced(lines: list[str]) -> bool:
    """An odd number of quote characters: some quote opens and is never closed.

    Quotes inside a quoted value are doubled, so a row whose quotes all
    close always has an even number of them.
    """
    return sum(line.count('"') for line in lines) % 2 == 1


_LOOKS_LIKE_ADDRESS = re.compile(r'^[^@\s"]+@[^@\s"]+\.[^@\s"]+$')


def _swallowing_quote(lines: list[str], first: int, end: int, delimiter: str, importer: _Importer) -> Optional[str]:
    """Why the quoted value of a row that spans lines ``first``..``end`` is a mistake, or None.

    A value may legitimately hold line breaks (a note, a postal address).
    It is a mistake when its quote never closes, or when a line inside it
    (not its last, which holds the closing quote) reads as a lead row of its
    own: as many values as the header, an address in the email column and
    no stray quote, as when a second stray quote closes the first far below.
    """
    if _quotes_unbalanced(lines[first:end]):
        return ("a quote (\") opens a value on this line and never closes; the rows after it were read on "
                "their own. Close or remove this quote")
    for index in range(first + 1, end - 1):
        alone = next(csv.reader([lines[index]], delimiter=delimiter), [])
        if (len(alone) == len(importer.names) and not _quotes_unbalanced([lines[index]])
                and _LOOKS_LIKE_ADDRESS.match(alone[importer.email_index].strip())):
            return (f"a quoted value starts on this line and runs on to line {end}, taking in line {index + 1} "
                    "as if it were text; the rows after it were read on their own. Check the quotes on this line")
    return None


class _Importer:
    def __init__(self, result: ImportResult, names: list[str], email_index: int, check_deliverability: bool,
                 key_column: Optional[str] = None):
        self.result = result
        self.names = names
        self.email_index = email_index
        key = "id" if key_column is None else key_column
        self.id_index = names.index(key) if key and key in names else None
        self.check_deliverability = check_deliverability
        self.by_email: dict[str, int] = {}  # casefolded address -> index in result.leads
        self.by_key: dict[str, int] = {}

    def add(self, row: list[str], line: int, delimiter: str) -> None:
        raw = delimiter.join(row)
        if not any(value.strip() for value in row):
            self.result.blank_lines.append(line)
            return
        extra = [value for value in row[len(self.names):] if value.strip()]
        if extra:
            self.result.rejected.append(Rejection(
                line, f"the row has {len(self.names) + len(extra)} values but the header has "
                f"{len(self.names)} columns (a stray '{delimiter}' in a value?)", raw))
            return
        values = [value.strip() for value in row[: len(self.names)]]
        values += [""] * (len(self.names) - len(values))
        address = values[self.email_index]
        if not address:
            self.result.rejected.append(Rejection(line, "no email address", raw))
            return
        try:
            email = validate_email(address, check_deliverability=self.check_deliverability).normalized
        except EmailNotValidError as exc:
            self.result.rejected.append(Rejection(line, f"'{address}' is not a valid address: {exc}", raw))
            return
        fields = {name: value for name, value in zip(self.names, values, strict=True)
                  if name != self.names[self.email_index]}
        fields["email"] = email
        folded = email.casefold()
        if folded in self.by_email:
            self._merge(self.by_email[folded], fields, line, email)
            return
        key = (values[self.id_index] if self.id_index is not None else "") or folded
        if key in self.by_key:
            other = self.result.leads[self.by_key[key]]
            self.result.rejected.append(Rejection(
                line, f"id '{key}' is already used by {other.email} on line {other.line}", raw))
            return
        self.by_email[folded] = self.by_key[key] = len(self.result.leads)
        self.result.leads.append(LeadRecord(key, email, fields, line))

    def _merge(self, index: int, fields: dict[str, str], line: int, email: str) -> None:
        lead = self.result.leads[index]
        filled, conflicts = [], []
        for name, value in fields.items():
            if not value or name == "email":
                continue
            if not lead.fields.get(name):
                lead.fields[name] = value
                filled.append(name)
            elif lead.fields[name] != value:
                conflicts.append(name)
        self.result.merged.append(Merge(line, lead.line, email, tuple(filled), tuple(conflicts)))

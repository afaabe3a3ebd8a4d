"""The installation's suppression list: addresses no campaign may email again.

An unsubscribe applies to the sender, not to one campaign (SEMANTICS 12): the
address goes here, and every later send to it is skipped with the reason. A
hard bounce, a spam complaint, an entry typed in by hand or a list imported
from another tool do the same. Entries leave the list only on purpose
(``remove``, which names the addresses).

Addresses are stored lower-cased (the whole address, ``str.lower()``) and
stripped, so a query can match a lead with ``s.email = lower(l.email)``.
Note that SQLite's own ``lower()`` folds ASCII letters only: code that needs
to match a lead whose address has upper-case non-ASCII letters should
normalise in Python with :func:`normalise` (as :func:`suppressed` does).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import BigInteger, String, Text, delete, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.leads.csv_safe import neutralise, restore
from engine.store.base import Base

REASONS = ("unsubscribe", "bounce", "complaint", "manual", "import")
CSV_COLUMNS = ("email", "reason", "at", "note")
MAX_ADDRESS = 320
MAX_NOTE = 1000


class Suppression(Base):
    """One address that gets no more email from any campaign of this installation."""

    __tablename__ = "suppressions"

    #: Lower-cased and stripped (see :func:`normalise`).
    email: Mapped[str] = mapped_column(String(MAX_ADDRESS), primary_key=True)
    #: unsubscribe | bounce | complaint | manual | import
    reason: Mapped[str] = mapped_column(String(16))
    #: When it was added, ms since the Unix epoch.
    at: Mapped[int] = mapped_column(BigInteger)
    #: The campaign (its world-unique uid) the unsubscribe or bounce came from, if any.
    campaign_uid: Mapped[Optional[str]] = mapped_column(String(64))
    note: Mapped[Optional[str]] = mapped_column(Text)


class SuppressionError(ValueError):
    """An entry that cannot go on the list; the message says why, in one sentence."""


@dataclass(frozen=True)
class Entry:
    email: str
    reason: str
    at: int
    campaign_uid: Optional[str] = None
    note: Optional[str] = None

    def as_json(self) -> dict:
        return {"email": self.email, "reason": self.reason, "at": self.at, "campaign_uid": self.campaign_uid,
                "note": self.note}


@dataclass
class Rejected:
    line: int
    reason: str


@dataclass
class ImportResult:
    added: int = 0
    already: int = 0
    rejected: list[Rejected] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.rejected is None:
            self.rejected = []

    def summary(self) -> str:
        return f"{self.added} added, {self.already} already on the list, {len(self.rejected)} rejected"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def normalise(address: str) -> str:
    """The form stored and compared: stripped and lower-cased as a whole.

    The local part is case-sensitive in theory only; every provider treats
    ``Ann@X`` and ``ann@x`` as one mailbox, and a suppression must err on the
    side of not mailing.
    """
    return address.strip().lower()


def _check_address(address: object) -> str:
    if not isinstance(address, str):
        raise SuppressionError("an address must be text")
    value = normalise(address)
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in value):
        raise SuppressionError(f"“{address}” is not an email address")
    if len(value) > MAX_ADDRESS:
        raise SuppressionError(f"the address is longer than {MAX_ADDRESS} characters")
    if any(0xD800 <= ord(ch) <= 0xDFFF or ord(ch) < 32 for ch in value):
        raise SuppressionError("the address contains characters that are not valid text")
    return value


def _check_reason(reason: object) -> str:
    if reason not in REASONS:
        raise SuppressionError(f"the reason must be one of {', '.join(REASONS)}, not “{reason}”")
    return str(reason)


def _entry(row: Suppression) -> Entry:
    return Entry(row.email, row.reason, row.at, row.campaign_uid, row.note)


def add(session: Session, address: str, reason: str, *, at: Optional[int] = None,
        campaign_uid: Optional[str] = None, note: Optional[str] = None) -> bool:
    """Put an address on the list; returns False if it was already there.

    An existing entry is kept as it is: the first reason and time are the
    ones that explain why the address stopped getting email.
    """
    email, reason = _check_address(address), _check_reason(reason)
    if note is not None and len(note) > MAX_NOTE:
        raise SuppressionError(f"the note is longer than {MAX_NOTE} characters")
    if session.get(Suppression, email) is not None:
        return False
    session.add(Suppression(email=email, reason=reason, at=now_ms() if at is None else int(at),
                            campaign_uid=campaign_uid, note=note))
    session.flush()
    return True


def remove(session: Session, addresses: Iterable[str]) -> list[str]:
    """Take the named addresses off the list; returns the ones that were on it."""
    wanted = sorted({normalise(a) for a in addresses if isinstance(a, str) and a.strip()})
    if not wanted:
        return []
    found = list(session.execute(select(Suppression.email).where(Suppression.email.in_(wanted))).scalars())
    if found:
        session.execute(delete(Suppression).where(Suppression.email.in_(found)))
    return sorted(found)


def get(session: Session, address: str) -> Optional[Entry]:
    row = session.get(Suppression, normalise(address))
    return _entry(row) if row is not None else None


def is_suppressed(session: Session, address: Optional[str]) -> bool:
    return bool(address) and session.get(Suppression, normalise(address)) is not None


def suppressed(session: Session, addresses: Iterable[Optional[str]]) -> dict[str, str]:
    """Which of these addresses are on the list: normalised address -> reason."""
    wanted = sorted({normalise(a) for a in addresses if a})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 5000):
        part = wanted[start:start + 5000]
        found.update((email, reason) for email, reason in session.execute(
            select(Suppression.email, Suppression.reason).where(Suppression.email.in_(part))))
    return found


def entries(session: Session, *, search: str = "", offset: int = 0, limit: Optional[int] = None) -> list[Entry]:
    """Entries, newest first; ``search`` matches part of the address or the note."""
    query = select(Suppression).order_by(Suppression.at.desc(), Suppression.email)
    if search.strip():
        pattern = "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(Suppression.email.like(pattern, escape="\\"),
                                func.lower(Suppression.note).like(pattern, escape="\\")))
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [_entry(row) for row in session.execute(query).scalars()]


def count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Suppression)).scalar_one()


def _safe_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP's CSV injection advice)."""
    return neutralise(value)


def export_csv(session: Session) -> str:
    """The whole list as CSV (email, reason, at, note), oldest first, ready for ``import_csv``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in session.execute(select(Suppression).order_by(Suppression.at, Suppression.email)).scalars():
        writer.writerow([_safe_cell(row.email), row.reason, row.at, _safe_cell(row.note or "")])
    return buffer.getvalue()


def _unquote_cell(value: str) -> str:
    """Undo :func:`_safe_cell`, so an export imports back unchanged."""
    return restore(value)


def import_csv(session: Session, source: str, *, default_reason: str = "import") -> ImportResult:
    """Add every good row of a CSV; report the bad ones with their line numbers.

    The ``email`` column is required; ``reason`` (default ``import``), ``at``
    (ms since the epoch; default now) and ``note`` are optional. A plain list
    of addresses, one a line with no header, is accepted too.
    """
    result = ImportResult()
    reader = csv.reader(io.StringIO(source.lstrip("\ufeff"), newline=""), strict=True)
    header: Optional[list[str]] = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if header is None:
                names = [cell.strip().lower() for cell in row]
                if "email" in names:
                    header = names
                    continue
                header = ["email"]
            rows.append((line, row))
    except csv.Error as exc:
        result.rejected.append(Rejected(reader.line_num, f"the file cannot be read as CSV from here on ({exc})"))
    index = {name: header.index(name) for name in CSV_COLUMNS if header and name in header}
    seen: set[str] = set()
    for line, row in rows:
        def cell(name: str, row: list[str] = row) -> str:
            at = index.get(name)
            return _unquote_cell(row[at].strip()) if at is not None and at < len(row) else ""

        try:
            email = _check_address(cell("email"))
            reason = _check_reason(cell("reason") or default_reason)
            raw_at = cell("at")
            try:
                at = int(raw_at) if raw_at else now_ms()
            except ValueError:
                raise SuppressionError(f"“{raw_at}” in the at column is not a time in milliseconds") from None
            if not 0 <= at < 2**62:
                raise SuppressionError(f"{at} in the at column is not a time in milliseconds")
            note = cell("note") or None
        except SuppressionError as exc:
            result.rejected.append(Rejected(line, str(exc)))
            continue
        if email in seen:
            result.already += 1
            continue
        seen.add(email)
        if add(session, email, reason, at=at, note=note):
            result.added += 1
        else:
            result.already += 1
    return result

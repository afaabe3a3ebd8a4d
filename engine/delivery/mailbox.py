"""The sandbox's mailbox: every message the built-in SMTP server received.

It lives in the campaign database so the CLI (and later the app) can list
and open what a campaign sent, on a machine with no mail account. Times are
integer milliseconds since the Unix epoch, like the engine's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from typing import Optional

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from engine.store import statements
from engine.store.bulk import driver_cursor
from engine.store.mailbox import MailboxMessage


@dataclass(frozen=True)
class StoredBatch:
    """What one group commit of the sandbox did."""

    stored: int
    resent: int  # copies of a Message-ID the mailbox already held: not kept again
    accepted: list[tuple[str, int]]  # (Message-ID, received at) of every message answered 250


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _decoded(value: object) -> Optional[str]:
    """A header's text with RFC 2047 words decoded; a malformed one is kept as it came."""
    if value is None:
        return None
    try:
        text = str(make_header(decode_header(str(value))))
    except Exception:  # a malformed header must not lose the message
        text = str(value)
    return " ".join(text.split())


def store_message(
    session: Session, *, mail_from: str, rcpt_tos: list[str], raw: bytes, received_at: Optional[int] = None
) -> MailboxMessage:
    """Keep one received message; Message-ID and Subject are read from its headers."""
    # compat32 parsing: several times faster than the modern header registry,
    # which matters when a campaign pours thousands of messages into the sandbox.
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    subject = _decoded(headers["Subject"])
    message_id = _decoded(headers["Message-ID"])
    row = MailboxMessage(
        received_at=now_ms() if received_at is None else received_at,
        mail_from=mail_from,
        rcpt_tos=list(rcpt_tos),
        message_id=message_id,
        subject=subject,
        raw=raw,
    )
    session.add(row)
    session.flush()
    return row


#: engine_counters row: copies of a message the sandbox already had (answered 250, not kept again).
RESENDS_COUNTER = "sandbox_resends"


def store_messages(session: Session, batch: list[tuple[str, list[str], bytes]],
                   received_at: Optional[int] = None) -> StoredBatch:
    """Keep many received messages with one INSERT (the sandbox's group commit).

    A message whose Message-ID the mailbox already holds is a resend after a
    crash (SEMANTICS 8: the Message-ID is the same every time, so it can be
    recognised downstream): it is not kept twice, only counted, so the
    mailbox shows what a lead received and the counter shows how often a
    crash made the engine send again.
    """
    from sqlalchemy import insert

    from engine.store.models import add_to_counter

    at = now_ms() if received_at is None else received_at
    parsed = []
    for mail_from, rcpt_tos, raw in batch:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        parsed.append((mail_from, rcpt_tos, raw, _decoded(headers["Message-ID"]), _decoded(headers["Subject"])))
    ids = {message_id for *_rest, message_id, _subject in parsed if message_id}
    seen = _known_message_ids(session, ids)
    rows = []
    resent = 0
    for mail_from, rcpt_tos, raw, message_id, subject in parsed:
        if message_id is not None and message_id in seen:
            resent += 1
            continue
        if message_id is not None:
            seen.add(message_id)
        rows.append({"received_at": at, "mail_from": mail_from, "rcpt_tos": list(rcpt_tos),
                     "message_id": message_id, "subject": subject, "raw": raw})
    if rows:
        session.execute(insert(MailboxMessage), rows)
    if resent:
        add_to_counter(session, RESENDS_COUNTER, resent)
    return StoredBatch(len(rows), resent, [(message_id, at) for *_rest, message_id, _s in parsed if message_id])


_KNOWN = statements.sql(select(literal_column("1")).where(MailboxMessage.message_id == statements.PARAM).limit(1))


def _known_message_ids(session: Session, ids: set[str]) -> set[str]:
    """Which of ``ids`` the mailbox holds. One cached statement per id, on the driver's
    cursor: groups are a few messages, and an ORM select (or an IN list of varying
    length, prepared anew each time) would cost more than the rest of the store."""
    if not ids:
        return set()
    cursor, sql = driver_cursor(session, _KNOWN)
    try:
        return {mid for mid in ids if cursor.execute(sql, (mid,)).fetchone() is not None}
    finally:
        cursor.close()


def list_messages(
    session: Session,
    *,
    to: Optional[str] = None,
    message_id: Optional[str] = None,
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = True,
) -> list[MailboxMessage]:
    """Messages in the mailbox, newest first by default.

    ``to`` filters on a recipient (exact address, compared case-insensitively
    after loading, since recipients are stored as a JSON list).
    """
    order = MailboxMessage.id.desc() if newest_first else MailboxMessage.id.asc()
    query = select(MailboxMessage).order_by(order)
    if message_id is not None:
        query = query.where(MailboxMessage.message_id == message_id)
    if to is None:
        return list(session.scalars(query.limit(limit).offset(offset)))
    wanted = to.casefold()
    rows = [m for m in session.scalars(query) if any(r.casefold() == wanted for r in m.rcpt_tos)]
    return rows[offset: offset + limit]


def get_message(session: Session, message_id: int) -> Optional[MailboxMessage]:
    return session.get(MailboxMessage, message_id)


def count_messages(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(MailboxMessage)) or 0


def count_by_message_id(session: Session) -> dict[Optional[str], int]:
    """How many copies of each Message-ID the mailbox keeps: one each, since the sandbox
    keeps a resend once and counts it (``count_resends``); more only in databases from
    before it did."""
    query = select(MailboxMessage.message_id, func.count()).group_by(MailboxMessage.message_id)
    return {message_id: count for message_id, count in session.execute(query)}


def count_resends(session: Session) -> int:
    """How many messages arrived again with a Message-ID the mailbox already held (a resend after a crash)."""
    from engine.store.models import read_counter

    return read_counter(session, RESENDS_COUNTER)

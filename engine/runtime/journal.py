"""The outcome journal: every 250 written down the instant it arrives.

Why it exists: SMTP has no idempotency key. Between the server's 250 and the
commit that marks the send ``sent`` (outcomes are committed in groups, every
~50 ms), a killed process forgets that the server took the message, its
lease runs out, and the message goes out again. A database commit per
message would close the window only as far as the commit's own duration and
would cost a transaction per email; a line written with one ``write()`` to a
file opened ``O_APPEND`` is in the kernel's page cache the moment the call
returns, so it survives ``kill -9`` (only an OS crash or a power cut can drop
it, and guarding against those would need an fsync per message). The window
left is the few microseconds between the reply being read and the line being
written.

Shape on disk: a directory beside the database (``campaign.db-outcomes/``;
for PostgreSQL one per database under ``$MAILBRANCH_HOME/outcomes/``). Each
outbox pass that receives a 250 writes its own file, ``<pid>-<random>.log``,
and holds an exclusive ``flock`` on it while it lives; a line is
``send_id<TAB>at_ms<TAB>message_id``. When the pass has committed its
outcomes it deletes the file. A file nobody holds belongs to a process that
died: the next outbox pass (at start-up, and before every claim) folds it
into the database, marking those sends sent, and deletes it. A torn last
line (no newline; only possible after an OS crash) is ignored.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from sqlalchemy import select

from engine.runtime.outbox_statements import SENT
from engine.store.models import Send
from engine.store.statements import PARAM, expand, in_params, sql, update

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.runtime.outbox import Outbox

log = logging.getLogger("mailbranch.outbox")

#: The journaled sends (``expand`` for their number).
_JOURNALED = sql(select(Send.id, Send.campaign_id, Send.lead_id, Send.token_id, Send.node, Send.message_id,
                        Send.attempts, Send.status).where(in_params(Send.id)))
#: A lease that ran out put the send back in the queue; it was delivered all the same.
_RECLAIM = update((Send.status, "sending"), where=(Send.id == PARAM, Send.status == "queued"))

_SUFFIX = ".log"
_TMP_SUFFIX = ".tmp"


@dataclass(frozen=True)
class Accepted:
    """One 250 as the journal keeps it."""

    send_id: int
    at: int  # ms since the epoch, when the reply arrived
    message_id: str


def journal_dir(db_url: str, home: Path) -> Optional[Path]:
    """Where the journal of a database lives (None: an in-memory database, which dies with the process)."""
    if db_url.startswith("sqlite"):
        if db_url.endswith(":memory:") or ":///" not in db_url:
            return None
        db_path = Path(db_url.split(":///", 1)[1])
        return db_path.with_name(db_path.name + "-outcomes")
    # PostgreSQL: the workers of one machine share one directory per database.
    # The password does not go into the name (it may change; the database does not).
    without_password = db_url.split("@", 1)[-1] if "@" in db_url else db_url
    key = hashlib.sha256(without_password.encode()).hexdigest()[:16]
    return home / "outcomes" / key


def _encode(record: Accepted) -> bytes:
    message_id = record.message_id.replace("\t", " ").replace("\n", " ")
    return f"{record.send_id}\t{record.at}\t{message_id}\n".encode("utf-8", "replace")


def parse(data: bytes) -> list[Accepted]:
    """The records of a journal file; a torn or unreadable line is skipped."""
    records = []
    for line in data.split(b"\n")[:-1]:  # whatever follows the last newline is torn
        parts = line.decode("utf-8", "replace").split("\t", 2)
        if len(parts) != 3:
            continue
        try:
            records.append(Accepted(int(parts[0]), int(parts[1]), parts[2]))
        except ValueError:
            continue
    return records


class JournalWriter:
    """The journal file of one outbox pass; made on the first 250, locked while it lives."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: Optional[int] = None
        self._path: Optional[Path] = None
        self.written = 0
        self.failed = False

    def _open(self) -> int:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        tmp = self.directory / f".{name}{_TMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        # Locked before it gets the name a fold looks for, so no fold ever takes a live file.
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = self.directory / f"{name}{_SUFFIX}"
        os.rename(tmp, path)
        self._fd, self._path = fd, path
        return fd

    def record(self, send_id: int, at: int, message_id: str) -> None:
        """Write one 250 down: one ``write()`` of one short line (no fsync: see the module docstring).

        A journal that cannot be written (a read-only directory, a full disk) must not stop
        the sending: the outcome is still committed with its group; only the protection
        against a kill in those ~50 ms is lost, and the log says so once.
        """
        if self.failed:
            return
        try:
            fd = self._fd if self._fd is not None else self._open()
            os.write(fd, _encode(Accepted(send_id, at, message_id)))
        except OSError as exc:
            self.failed = True
            log.warning("cannot write the outcome journal in %s (%s); a kill in the next moments could "
                        "send a message twice", self.directory, exc.strerror or exc)
            return
        self.written += 1

    def close(self, committed: bool) -> None:
        """Done with this pass: delete the file if its outcomes are committed, else leave it to a fold."""
        fd, path, self._fd, self._path = self._fd, self._path, None, None
        if fd is None or path is None:
            return
        try:
            if committed:
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the lock: an uncommitted file is now a fold's to take


class OutcomeJournal:
    """The journal directory of one database."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_database(cls, db_url: str) -> Optional[OutcomeJournal]:
        """The journal of the database at ``db_url`` (None for an in-memory one)."""
        from engine.runtime.home import ensure_home

        directory = journal_dir(db_url, ensure_home())
        return cls(directory) if directory is not None else None

    def writer(self) -> JournalWriter:
        return JournalWriter(self.directory)

    def fold(self, settle: Callable[[list[Accepted]], list[Accepted]]) -> int:
        """Hand every 250 left by a process that died to ``settle``, then delete its file.

        ``settle`` commits what it can and returns the records it left for
        another outbox (sends outside its campaigns or shard); those go back
        into a new file nobody holds. A file whose ``settle`` raised stays for
        the next fold. Returns how many records were settled.
        """
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return 0
        folded = 0
        for name in sorted(names):
            if not name.endswith((_SUFFIX, _TMP_SUFFIX)):
                continue
            path = self.directory / name
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # another fold took it
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                        continue  # its writer is alive
                    raise
                if not path.exists():
                    continue  # folded and deleted while this fold waited to open it
                records = parse(_read_all(fd))
                left = settle(records) if records else []
                if left:
                    self._write_orphan(left)
                folded += len(records) - len(left)
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        return folded

    def _write_orphan(self, records: list[Accepted]) -> None:
        """Records for another outbox: a file that is not locked, so the next fold anywhere takes it."""
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        tmp = self.directory / f".{name}{_TMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, b"".join(_encode(r) for r in records))
            os.rename(tmp, self.directory / f"{name}{_SUFFIX}")
        finally:
            os.close(fd)

    def pending(self) -> int:
        """How many journal files are waiting (live or left by a dead process), for tests and status."""
        try:
            return sum(1 for n in os.listdir(self.directory) if n.endswith(_SUFFIX))
        except FileNotFoundError:
            return 0


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


# -- the outbox's side ---------------------------------------------------------

def fold_journal(outbox: Outbox) -> int:
    """Settle as sent every 250 a killed process journaled but never committed (before each claim)."""
    if outbox.journal is None:
        return 0
    folded = outbox.journal.fold(lambda records: _settle_records(outbox, records))
    if folded:
        log.info("recorded %s sends a stopped process had delivered but not yet recorded", folded)
    return folded


def _in_scope(outbox: Outbox, campaign_id: int, lead_id: int) -> bool:
    ids = outbox.campaigns() if outbox.campaigns is not None else None
    if ids is not None and campaign_id not in ids:
        return False
    return outbox.shard is None or lead_id % outbox.shard[1] == outbox.shard[0]


def _settle_records(outbox: Outbox, records: list[Accepted]) -> list[Accepted]:
    """Settle the journaled sends this outbox serves; return the records left for another outbox."""
    from engine.delivery.smtp import SENT
    from engine.runtime.outbox import _Claimed
    from engine.store.bulk import begin_write, execute_many, fetch_all

    by_id = {r.send_id: r for r in records}
    mine: list[_Claimed] = []
    left: list[Accepted] = []
    with outbox.db.session() as s:
        begin_write(s)
        rows = fetch_all(s, expand(_JOURNALED, len(by_id)), list(by_id))
        for send_id, campaign_id, lead_id, token_id, node, message_id, attempts, status in rows:
            record = by_id[send_id]
            if message_id != record.message_id or status not in ("sending", "queued"):
                continue  # settled already (or a journal left by an older database at this path)
            if not _in_scope(outbox, campaign_id, lead_id):
                left.append(record)
                continue
            mine.append(_Claimed(send_id, campaign_id, lead_id, token_id, node, message_id, attempts, None))
        # A lease that ran out put the send back in the queue; it was delivered all the same.
        execute_many(s, _RECLAIM, [(item.send_id,) for item in mine])
    if mine:
        for item in mine:
            outbox._accepted_at[item.send_id] = by_id[item.send_id].at
        outbox._settle([(item, SENT) for item in mine])
    return left


def record_accepted(outbox: Outbox, session: Session, accepted: list[tuple[str, int]]) -> int:
    """The built-in sandbox, in this process, took these messages (Message-ID, when):
    mark their sends sent in the sandbox's own transaction, before it answers 250,
    so its mailbox and the outbox can never disagree about what went out.

    The outbox settles the same sends again when the 250 reaches it; both
    statements are compare-and-sets on ``sending``, and the ``delivered``
    event is written only by the one that wins (``settled.py``).
    """
    from engine.runtime.settled import settle_events
    from engine.store.bulk import execute_many

    items = [(at, outbox._in_flight[mid]) for mid, at in accepted if mid in outbox._in_flight]
    if not items:
        return 0
    on_wall_clock = [(at, item.send_id) for at, item in items
                     if outbox.campaign_time is None or outbox.campaign_time(item.campaign_id) is None]
    settle_events(session, "delivered", on_wall_clock)
    return execute_many(session, SENT, [(at, item.send_id) for at, item in items])

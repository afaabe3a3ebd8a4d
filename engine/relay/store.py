"""The relay's own event log: one SQLite file in WAL mode, written by group commit.

The relay holds no lead data: only what the signed tokens said (campaign uid,
send or lead id, the clicked URL, the address of an unsubscribe) with the
time and the machine verdict of each request. Events get increasing ids, the
sync cursor. A request is answered once its event is committed, and requests
that arrive during a commit share the next one, so thousands of events a
second cost a few dozen commits. As for the engine's own database, WAL with
``synchronous=NORMAL``: a committed event survives the relay process being
killed; a power cut of the host may lose the last moments before it.

Events the desktop has pulled are kept for ``retention_ms`` more (another
engine process, a restored backup, may still ask for them), then deleted.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from engine.store.private_files import private_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,          -- open | click | unsubscribe
    campaign TEXT,               -- the campaign uid the token carries
    ref TEXT NOT NULL,           -- send id (open, click) or lead id (unsubscribe)
    url TEXT,                    -- the clicked link
    email TEXT,                  -- the address an unsubscribe token carries
    at INTEGER NOT NULL,         -- ms since the epoch, the relay's clock
    machine TEXT                 -- why a machine made it (NULL: the reader)
);
"""

#: One event as it is stored and synced: (kind, campaign, ref, url, email, at, machine).
Row = tuple[str, Optional[str], str, Optional[str], Optional[str], int, Optional[str]]

DAY_MS = 86_400_000
PRUNE_EVERY_MS = 600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Waiting:
    row: Row
    future: asyncio.Future


class RelayStore:
    """Events in, by group commit; batches out, by cursor."""

    def __init__(self, path: Union[str, Path], retention_ms: int = 7 * DAY_MS, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        self.retention_ms = retention_ms
        self._lock = threading.Lock()  # the write connection
        self._read_lock = threading.Lock()  # the read connection (WAL: reads never wait for writes)
        self._write = self._connect(synchronous)
        self._read = self._connect(synchronous)
        with self._lock:
            self._write.executescript(SCHEMA)
            found = self._write.execute("SELECT value FROM meta WHERE key = 'uid'").fetchone()
            if found is None:
                self._write.execute("INSERT INTO meta VALUES ('uid', ?)", (secrets.token_urlsafe(12),))
                found = self._write.execute("SELECT value FROM meta WHERE key = 'uid'").fetchone()
        #: This store's own id: a relay whose file was replaced is a new relay to the desktop.
        self.uid: str = found[0]
        self._queue: list[_Waiting] = []
        self._flusher: Optional[asyncio.Task] = None
        self._inflight: Optional[int] = None  # the earliest time in the batch being committed
        self._pruned_at: Optional[int] = None  # when acknowledged old events were last deleted
        self.commits = 0
        self.recorded = 0

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        return connection

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._write.close()
            self._read.close()

    # -- in ------------------------------------------------------------------
    async def add(self, row: Row) -> None:
        """Store one event; returns once it is committed."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
        await future

    def oldest_uncommitted(self) -> Optional[int]:
        """The earliest time of an event accepted but not yet committed (None: none)."""
        return min((w.row[5] for w in self._queue), default=None)

    async def _flush_loop(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            self._inflight = min(w.row[5] for w in batch)
            try:
                await asyncio.to_thread(self.insert_many, [w.row for w in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting request gets an answer
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            finally:
                self._inflight = None
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_result(None)

    def insert_many(self, rows: list[Row]) -> None:
        with self._lock:
            self._write.execute("BEGIN IMMEDIATE")
            try:
                self._write.executemany("INSERT INTO events (kind, campaign, ref, url, email, at, machine)"
                                        " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                self._write.execute("COMMIT")
            except BaseException:
                self._write.execute("ROLLBACK")
                raise
        self.commits += 1
        self.recorded += len(rows)

    def complete_before(self) -> int:
        """Every event that happened before this instant is committed (the sync's watermark)."""
        pending = [t for t in (self.oldest_uncommitted(), self._inflight) if t is not None]
        return min([now_ms(), *pending])

    # -- out -----------------------------------------------------------------
    def after(self, cursor: int, limit: int) -> list[tuple]:
        """Up to ``limit`` events with ids above ``cursor``, oldest id first: (id, *Row)."""
        with self._read_lock:
            return self._read.execute("SELECT id, kind, campaign, ref, url, email, at, machine FROM events"
                                      " WHERE id > ? ORDER BY id LIMIT ?", (cursor, limit)).fetchall()

    def waiting(self, cursor: int) -> int:
        with self._read_lock:
            return self._read.execute("SELECT COUNT(*) FROM events WHERE id > ?", (cursor,)).fetchone()[0]

    def acknowledge(self, cursor: int, at: int) -> None:
        """The desktop has everything up to ``cursor``: note when it last pulled, and
        delete what it has had for longer than the retention."""
        with self._lock:
            self._write.execute("BEGIN IMMEDIATE")
            try:
                acked = int(self._meta("acked") or 0)
                if cursor > acked:
                    self._set_meta("acked", str(cursor))
                    acked = cursor
                self._set_meta("pulled_at", str(at))
                if self._pruned_at is None or at - self._pruned_at >= PRUNE_EVERY_MS:
                    # A scan of what was acknowledged: at most every few minutes, not on every pull.
                    self._write.execute("DELETE FROM events WHERE id <= ? AND at < ?",
                                        (acked, at - self.retention_ms))
                    self._pruned_at = at
                self._write.execute("COMMIT")
            except BaseException:
                self._write.execute("ROLLBACK")
                raise

    def status(self) -> dict:
        """What the app shows: the last pull, and the events not yet acknowledged."""
        with self._read_lock:
            acked = int(self._meta("acked", self._read) or 0)
            pulled = self._meta("pulled_at", self._read)
            waiting = self._read.execute("SELECT COUNT(*) FROM events WHERE id > ?", (acked,)).fetchone()[0]
        return {"relay": self.uid, "acknowledged": acked, "pulled_at": int(pulled) if pulled else None,
                "waiting": waiting}

    def _meta(self, key: str, connection: Optional[sqlite3.Connection] = None) -> Optional[str]:
        found = (connection or self._write).execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return found[0] if found else None

    def _set_meta(self, key: str, value: str) -> None:
        self._write.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (key, value))

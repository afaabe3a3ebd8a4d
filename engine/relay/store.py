"""The relay's own event log: one SQLite file in WAL mode, written in batches.

The relay holds no lead data: only what the signed tokens said (campaign uid,
send or lead id, the clicked URL, the address of an unsubscribe) with the
time and the machine verdict of each request. Events get increasing ids, in
the order they arrived: the sync cursor.

A request is answered as soon as its event is accepted in memory; accepted
events are committed together in one transaction every ``flush_ms`` (50 ms)
or as soon as ``flush_events`` wait, so ten thousand events a second cost
some twenty commits and no request waits for the disk. What that trades
(docs/relay.md): a clean stop (SIGTERM, Ctrl-C, ``stop()``) commits
everything accepted before the file is closed; a crash of the relay process
(SIGKILL, out of memory) loses at most the events of the last interval, those
answered in the last ``flush_ms`` and the commit under way. As for the
engine's own database, WAL with ``synchronous=NORMAL``: a committed event
survives the process being killed; a power cut of the host may lose the last
moments before it. When the disk refuses a commit, events stay in memory and
the commit is tried again (up to ``MAX_BUFFERED`` events).

Events the desktop has pulled are kept for ``retention_ms`` more (another
engine process, a restored backup, may still ask for them), then deleted.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import threading
import time
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
#: Events are committed together at least this often (ms) ...
FLUSH_MS = 50
#: ... or as soon as this many wait.
FLUSH_EVENTS = 5000
#: Events kept in memory while the disk refuses commits, at most (then requests count as failures).
MAX_BUFFERED = 200_000

log = logging.getLogger("mailbranch.relay.store")


class StoreFull(Exception):
    """The disk has refused commits for so long that no more events are accepted."""


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _answer(waiters: list[asyncio.Future], error: Optional[BaseException]) -> None:
    for waiter in waiters:
        if not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RelayStore:
    """Events in, buffered and committed together every ``flush_ms``; batches out, by cursor."""

    def __init__(self, path: Union[str, Path], retention_ms: int = 7 * DAY_MS, synchronous: str = "NORMAL",
                 flush_ms: int = FLUSH_MS, flush_events: int = FLUSH_EVENTS) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        self.retention_ms = retention_ms
        #: At most this long between an event's answer and its commit (what a crash may lose).
        self.flush_ms = flush_ms
        #: ... or this many events, whichever comes first.
        self.flush_events = flush_events
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
        self._queue: list[Row] = []  # accepted, not yet being committed
        self._waiters: list[asyncio.Future] = []  # requests that wait for the next commit
        self._flusher: Optional[asyncio.Task] = None
        self._wake: Optional[asyncio.Future] = None  # set to flush before the interval is up
        self._draining = False
        self._inflight: Optional[int] = None  # the earliest time in the batch being committed
        self._pruned_at: Optional[int] = None  # when acknowledged old events were last deleted
        self._failing = False
        self.commits = 0
        self.recorded = 0

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        return connection

    def close(self) -> None:
        """Commit what is still buffered (a clean shutdown loses nothing), then close the file."""
        if self._queue:
            batch, self._queue = self._queue, []
            self.insert_many(batch)
        with self._lock, self._read_lock:
            self._write.close()
            self._read.close()

    # -- in ------------------------------------------------------------------
    def put(self, row: Row) -> None:
        """Accept one event; it is committed within ``flush_ms`` (see the module's docstring).

        Refused (``StoreFull``) only when the disk has refused commits for so
        long that ``MAX_BUFFERED`` events wait in memory: the request is then
        counted as a failure rather than the relay running out of memory."""
        queue = self._queue
        if len(queue) >= MAX_BUFFERED:
            raise StoreFull(f"{len(queue)} events wait for a commit the disk keeps refusing")
        queue.append(row)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())
        elif len(queue) >= self.flush_events:
            self._flush_now()

    async def put_committed(self, row: Row) -> None:
        """Accept one event and return once it is committed (an unsubscribe: its page
        says "you are unsubscribed" only when that is on disk); commits at once."""
        self.put(row)
        await self.flush()

    async def flush(self) -> None:
        """Commit now what has been accepted so far, and return once it is (a sync pull
        first does this, so it sees every event answered before it)."""
        if not self._queue and self._inflight is None:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())
        self._flush_now()
        await waiter

    def _flush_now(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def drain(self) -> None:
        """Commit everything accepted so far, without waiting out the interval (shutdown)."""
        self._draining = True
        try:
            self._flush_now()
            while self._flusher is not None and not self._flusher.done():
                await asyncio.shield(self._flusher)  # raises if the disk refuses: close() tries once more
        finally:
            self._draining = False

    def oldest_uncommitted(self) -> Optional[int]:
        """The earliest time of an event accepted but not yet committed (None: none)."""
        return min((row[5] for row in self._queue), default=None)

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.flush_ms / 1000
        while self._queue or self._waiters:
            if not (self._draining or self._waiters) and len(self._queue) < self.flush_events:
                self._wake = loop.create_future()
                timer = loop.call_later(delay, _resolve, self._wake)
                try:
                    await self._wake
                finally:
                    timer.cancel()
                    self._wake = None
            batch, self._queue = self._queue, []
            waiters, self._waiters = self._waiters, []
            if batch:
                self._inflight = min(row[5] for row in batch)
                try:
                    await asyncio.to_thread(self.insert_many, batch)
                except Exception as exc:  # noqa: BLE001 - keep the events and try again
                    self._queue[:0] = batch
                    _answer(waiters, exc)
                    if self._draining:
                        raise
                    if not self._failing:
                        log.warning("relay store: cannot commit %d events (%s); keeping them in memory and "
                                    "trying again", len(batch), exc)
                    self._failing = True
                    delay = min(delay * 2, 5.0)
                    await asyncio.sleep(delay)
                    continue
                finally:
                    self._inflight = None
                if self._failing:
                    log.warning("relay store: commits work again; %d events committed", len(batch))
                    self._failing, delay = False, self.flush_ms / 1000
            _answer(waiters, None)

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

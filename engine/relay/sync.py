"""The desktop pulls the relay's events into its campaign database.

A pull asks for the events after this database's cursor for that relay, in
batches, and records each batch in one transaction with the cursor moved to
its last event (``EngineSink.write_synced``): a batch is recorded whole or
not at all, and each event carries a unique key, so pulling again (a retry
after a lost answer, two engine processes syncing at once) records nothing
twice. A laptop that slept a day catches up batch after batch at once.

Events are recorded with the time they happened at the relay; the engine
handles pending events by that time (SEMANTICS 5), so a late batch is
played in true time order among the events not yet handled. The relay also
says up to which instant its log is complete (``complete_before``), which
``synced_through`` passes on: a runner that plays due work only up to that
instant never fires a wait before an open that happened earlier but is still
on its way.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import select, update

from engine.runtime.sink import EngineSink
from engine.store.database import Database
from engine.store.models import RelayCursor

log = logging.getLogger("mailbranch.relay.sync")

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class RelayError(Exception):
    """The relay could not be reached or refused us; the message says what to check.

    ``passing`` is True for what may mend by itself (no network yet after
    the laptop woke, a timeout, a 5xx from the proxy) and False for what
    needs the user (a wrong secret, a URL that is no relay).
    """

    def __init__(self, message: str, passing: bool = False) -> None:
        super().__init__(message)
        self.passing = passing


def check_relay_url(url: str) -> str:
    """The relay's base URL, refusing plain HTTP to anything but this computer."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RelayError(f"{url!r} is not a relay address; give its https:// URL, e.g. https://track.example.com")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise RelayError(f"the relay at {url} must be reached over https:// (the sync secret would travel in clear)")
    return url.strip().rstrip("/")


@dataclass
class SyncState:
    """What the app and ``mailbranch relay status`` show."""

    url: str
    reachable: Optional[bool] = None
    #: When the last pull succeeded (ms), and how many events it left at the relay.
    last_sync: Optional[int] = None
    waiting: Optional[int] = None
    #: Every relay event before this instant is in this database.
    synced_through: Optional[int] = None
    pulled: int = 0
    error: Optional[str] = None
    #: The last error may mend by itself (see ``RelayError.passing``).
    passing: bool = False

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RelayClient:
    """HTTP(S) requests to the relay's sync routes with the sync secret."""

    def __init__(self, url: str, secret: str, *, ca_file: Optional[str] = None, timeout: float = 30.0) -> None:
        self.url = check_relay_url(url)
        self._headers = {"Authorization": f"Bearer {secret.strip()}"}
        self._ssl: Any = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(self.url + path, params=params, headers=self._headers,
                                         ssl=self._ssl) as response:
                if response.status == 401:
                    raise RelayError(f"the relay at {self.url} refused the sync secret; copy this installation's "
                                     "relay-sync.secret to the relay again (docs/relay.md)")
                if response.status == 404:
                    raise RelayError(f"{self.url} answers, but not as a Mailbranch relay with sync (check the URL; "
                                     "a relay in scale-out mode has nothing to sync)")
                if response.status != 200:
                    raise RelayError(f"the relay at {self.url} answered {response.status}",
                                     passing=response.status >= 500)
                return await response.json()
        except aiohttp.ClientError as exc:
            raise RelayError(f"cannot reach the relay at {self.url} ({exc})", passing=True) from None
        except TimeoutError:
            raise RelayError(f"the relay at {self.url} did not answer in time", passing=True) from None

    async def events(self, after: int, limit: int) -> dict[str, Any]:
        return await self._get("/sync/events", {"after": after, "limit": limit})

    async def status(self) -> dict[str, Any]:
        return await self._get("/sync/status", {})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class RelaySync:
    """Pulls a relay into a database through the engine's sink."""

    def __init__(self, db: Database, client: RelayClient, sink: Optional[EngineSink] = None,
                 batch: int = 5000) -> None:
        self.db = db
        self.client = client
        self.sink = sink or EngineSink(db)
        self.batch = batch
        self.state = SyncState(client.url)

    def cursor(self, relay: str) -> int:
        with self.db.session() as s:
            found = s.execute(select(RelayCursor.cursor).where(RelayCursor.relay == relay)).scalar()
        return int(found or 0)

    def _ensure_cursor(self, relay: str) -> None:
        with self.db.session() as s:
            if s.get(RelayCursor, relay) is None:
                s.add(RelayCursor(relay=relay, cursor=0, synced_at=None, waiting=0))

    async def sync_once(self) -> int:
        """Pull until the relay has nothing more; returns events pulled. Never raises
        ``RelayError``: it lands in ``state.error`` (the next pull tries again)."""
        pulled = 0
        try:
            relay = str((await self.client.status())["relay"])  # the cursor is kept per relay
            await asyncio.to_thread(self._ensure_cursor, relay)
            cursor = await asyncio.to_thread(self.cursor, relay)
            while True:
                answer = await self.client.events(cursor, self.batch)
                rows = answer["events"]
                last, waiting = int(answer["last"]), int(answer["waiting"])
                synced_at = self.sink.clock_ms() if self.sink.clock_ms else _now()
                if rows:
                    items = [(f"{relay}:{r[0]}", r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7]) for r in rows]
                    try:
                        await self.sink.write_synced(items, self._mover(relay, cursor, last, synced_at, waiting))
                    except _Concurrent:
                        cursor = await asyncio.to_thread(self.cursor, relay)
                        continue
                    pulled += len(rows)
                else:
                    await asyncio.to_thread(self._touch, relay, synced_at, waiting)
                cursor = last
                self.state.reachable, self.state.error = True, None
                self.state.last_sync, self.state.waiting = synced_at, waiting
                if waiting == 0:  # the relay's whole log up to this instant is here now
                    self.state.synced_through = int(answer["complete_before"])
                if not rows or waiting == 0:
                    break
        except RelayError as exc:
            if self.state.error != str(exc):
                log.warning("%s", exc)
            self.state.reachable, self.state.error, self.state.passing = False, str(exc), exc.passing
        self.state.pulled += pulled
        return pulled

    @staticmethod
    def _mover(relay: str, before: int, last: int, at: int, waiting: int):
        def move(session) -> None:
            hit = session.execute(update(RelayCursor).where(RelayCursor.relay == relay,
                                                            RelayCursor.cursor == before)
                                  .values(cursor=last, synced_at=at, waiting=waiting)).rowcount
            if not hit:  # another process moved it first: its transaction recorded these events
                raise _Concurrent()
        return move

    def _touch(self, relay: str, at: int, waiting: int) -> None:
        with self.db.session() as s:
            s.execute(update(RelayCursor).where(RelayCursor.relay == relay).values(synced_at=at, waiting=waiting))

    async def run(self, interval: float = 5.0, stop: Optional[asyncio.Event] = None) -> None:
        """Pull every ``interval`` seconds (at once again while the relay has more), until ``stop``."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.sync_once()
            except Exception as exc:  # noqa: BLE001 - the database refused a batch: it rolled back whole
                log.warning("could not record the relay's events (%s); trying again", exc)
                self.state.error = f"could not record the relay's events ({exc})"
            try:
                async with asyncio.timeout(interval):
                    await stop.wait()
            except TimeoutError:
                pass

    async def close(self) -> None:
        await self.client.close()


class _Concurrent(RuntimeError):
    """Another engine process moved the cursor: this batch was rolled back; pull again."""


def _now() -> int:
    import time

    return time.time_ns() // 1_000_000

"""Running the sync inside an engine process, and holding the engine's clock for it.

Events pulled from the relay can be minutes or a day old (the laptop slept).
SEMANTICS 5 plays a lead's events oldest first and, within one instant,
fires due waits before events: if the engine fired a condition's NO wait
before an open that happened earlier but was still at the relay, that open
would be late and the "did you miss it?" email would go to a reader who did
open. So while a relay is attached the runner plays due work only up to the
instant the relay's log is known to be in this database (``SyncHold``).

A relay that stays unreachable must not stop every campaign: once pulls
have failed for ``max_hold_ms`` (ten minutes by default) the hold is let go
and the engine plays on (at once when the relay refuses the secret or is no
relay at all: waiting would not mend that); events that arrive after that are recorded and
counted, and trigger only where their condition still listens.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Optional

from engine.relay.secrets import installation_sync_secret
from engine.relay.sync import RelayClient, RelaySync
from engine.runtime.sink import EngineSink
from engine.store.database import Database

log = logging.getLogger("mailbranch.relay")

URL_ENV = "MAILBRANCH_RELAY_URL"
CA_ENV = "MAILBRANCH_RELAY_CA"


class SyncHold:
    """``runner.hold``: the latest instant the engine may play up to, given the sync's state."""

    def __init__(self, sync: RelaySync, clock_ms: Callable[[], int], max_hold_ms: int = 600_000) -> None:
        self.sync = sync
        self.clock_ms = clock_ms
        self.max_hold_ms = max_hold_ms
        self._failing_since: Optional[int] = None

    def __call__(self, limit: int) -> int:
        state = self.sync.state
        now = self.clock_ms()
        if state.reachable is False and not state.passing:
            return limit  # a wrong secret or URL will not mend by waiting: play on, the app says why
        if state.reachable is False:
            if self._failing_since is None:
                self._failing_since = now
            if now - self._failing_since >= self.max_hold_ms:
                return limit  # the relay has been away too long: play on
        else:
            self._failing_since = None
        # Before the first complete pull nothing is known to be here: hold everything.
        return min(limit, state.synced_through if state.synced_through is not None else 0)


async def start_sync(db: Database, sink: EngineSink, url: str, *, secret: Optional[str] = None,
                     ca_file: Optional[str] = None, interval: float = 2.0
                     ) -> tuple[RelaySync, asyncio.Task, asyncio.Event]:
    """Pull ``url`` into ``db`` through ``sink`` every ``interval`` seconds, in the background.

    Returns the sync (its ``state`` is what the app shows), its task and the
    event that stops it.
    """
    client = RelayClient(url, secret or installation_sync_secret().decode(), ca_file=ca_file)
    sync = RelaySync(db, client, sink=sink)
    stop = asyncio.Event()

    async def loop() -> None:
        try:
            await sync.run(interval, stop)
        finally:
            await sync.close()

    task = asyncio.create_task(loop(), name="relay-sync")
    log.info("syncing tracking events from the relay at %s", client.url)
    return sync, task, stop


async def attach_to_runner(db: Database, runner, url: str) -> asyncio.Event:
    """Pull the relay's events through ``runner``'s sink and hold its clock for them
    (``SyncHold``): a NO wait never closes while an earlier open may still be at the
    relay. What ``mailbranch serve`` and ``mailbranch run --relay`` both do; returns
    the event that stops the sync."""
    sync, _task, stop = await start_sync(db, runner.sink, url, ca_file=os.environ.get(CA_ENV) or None)
    runner.hold = SyncHold(sync, runner.clock.now)
    return stop

"""An open that happened before a condition's wait ended, but reached the desktop
after it, still counts: while a relay is attached the engine plays due work only
up to the instant the relay's log is known to be here (SEMANTICS 5)."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from engine.flow.fileformat import loads_flow
from engine.relay.attach import SyncHold
from engine.relay.secrets import installation_sync_secret
from engine.relay.sync import RelayClient, RelaySync
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine
from tests.integration.support import leads, mailbox, query, subjects_by_recipient, until

from .support import BROWSER_UA, links_in, relay_runner, two_link_flow


async def test_an_open_still_at_the_relay_when_the_wait_ends_is_not_late(db, relay):
    engine = CampaignEngine.create(db, loads_flow(json.dumps(two_link_flow(wait="3s"))), SystemClock(),
                                   delivery="real")
    engine.enroll(leads("ann@example.com"))
    runner = relay_runner(db, [engine], relay.url)
    sync = RelaySync(db, RelayClient(relay.url, installation_sync_secret().decode()), sink=runner.sink)
    runner.hold = SyncHold(sync, runner.clock.now)
    syncing = asyncio.Event()
    syncing.set()

    async def pull_while_allowed() -> None:
        while True:
            await syncing.wait()
            await sync.sync_once()
            await asyncio.sleep(0.1)

    await runner.start()
    puller = asyncio.create_task(pull_while_allowed())
    task = asyncio.create_task(runner.run(until_finished=False))
    try:
        await until(lambda: query(db, "SELECT COUNT(*) FROM listeners WHERE state = 'listening'") == [(1,)],
                    what="the condition to listen")
        (wait_due,), = query(db, "SELECT due_at FROM waits WHERE node = 'w1' AND state = 'pending'")
        syncing.clear()  # the desktop loses the relay for a while
        await asyncio.sleep(0.2)
        html = next(m for m in mailbox(db) if m.subject == "Hi Ann").body("html")
        async with aiohttp.ClientSession() as http:
            async with http.get(links_in(html)["pixel"][0], headers={"User-Agent": BROWSER_UA}) as response:
                assert response.status == 200
        opened_at = time.time_ns() // 1_000_000
        assert opened_at < wait_due
        while time.time_ns() // 1_000_000 < wait_due + 1500:
            await asyncio.sleep(0.1)
        # The wait is due, but the engine holds: the relay may still have earlier events.
        assert query(db, "SELECT state FROM waits WHERE node = 'w1'") == [("pending",)]
        syncing.set()
        await until(lambda: sorted(subjects_by_recipient(db).get("ann@example.com", []))
                    == ["Did you miss it?", "Hi Ann", "Thanks for reading"], what="e2 (the open) and e3 (the wait)")
    finally:
        puller.cancel()
        runner.request_stop()
        await asyncio.wait_for(task, 10)
        await runner.stop()
        await sync.close()
    (triggered,), = query(db, "SELECT triggered FROM events WHERE type = 'open'")
    assert triggered != "[]"


async def test_a_relay_away_too_long_lets_the_engine_play_on(db):
    sync = RelaySync(db, RelayClient("http://127.0.0.1:9", "x" * 64))
    now = [1_000_000]
    hold = SyncHold(sync, lambda: now[0], max_hold_ms=60_000)
    assert hold(999_000) == 0  # nothing pulled yet: hold everything
    await sync.sync_once()
    await sync.close()
    assert sync.state.reachable is False
    assert hold(999_000) == 0
    now[0] += 60_000
    assert hold(1_058_000) == 1_058_000


async def test_a_relay_that_refuses_the_secret_does_not_hold_the_engine(db, relay):
    sync = RelaySync(db, RelayClient(relay.url, "w" * 64))
    hold = SyncHold(sync, lambda: 1_000_000)
    await sync.sync_once()
    await sync.close()
    assert sync.state.reachable is False and not sync.state.passing
    assert hold(999_000) == 999_000

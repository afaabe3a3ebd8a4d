"""The relay answers before its events reach the disk and commits them together
(docs/relay.md, "What a stop or a crash loses"): a clean stop loses nothing, a
crash at most the events of the last flush interval, and the order the events
arrived in is the order the desktop pulls them."""

from __future__ import annotations

import signal
import time

import aiohttp
import pytest

from engine.delivery.tracking_tokens import TrackingTokens, load_or_create_secret
from engine.relay.secrets import installation_files
from engine.relay.store import RelayStore

from .support import BROWSER_UA, RelayProcess

UID = "campaign-uid-DURABLEDURABL"


def tokens() -> TrackingTokens:
    return TrackingTokens(load_or_create_secret(installation_files()[0]))


async def open_pixels(relay: RelayProcess, send_ids: range) -> None:
    """One reader's open per send, one after the other; each answered with the GIF."""
    made = tokens()
    async with aiohttp.ClientSession() as http:
        for send_id in send_ids:
            url = f"{relay.url}/o/{made.open_token(UID, send_id)}.gif"
            async with http.get(url, headers={"User-Agent": BROWSER_UA}) as response:
                assert response.status == 200 and await response.read()


def stored_sends(relay: RelayProcess) -> list[int]:
    """The send ids in the relay's log, in cursor (id) order."""
    store = RelayStore(relay.data / "relay.db")
    try:
        return [int(row[3]) for row in store.after(0, 100_000)]
    finally:
        store.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
async def test_a_clean_stop_commits_every_answered_event_once_in_arrival_order(tmp_path, mailbranch_home, stop):
    # A flush interval far longer than the test: only the stop itself can commit these events.
    relay = RelayProcess(tmp_path / "relay-data", mailbranch_home, "--flush-ms", "60000")
    relay.start()
    try:
        await open_pixels(relay, range(1, 201))
        relay.process.send_signal(stop)
        assert relay.process.wait(timeout=20) == 0
    finally:
        relay.stop()
    assert stored_sends(relay) == list(range(1, 201))


async def test_a_crash_loses_at_most_the_last_flush_interval(tmp_path, mailbranch_home):
    relay = RelayProcess(tmp_path / "relay-data", mailbranch_home, "--flush-ms", "100")
    relay.start()
    try:
        await open_pixels(relay, range(1, 101))
        time.sleep(1.0)  # ten intervals: these hundred are on disk
        await open_pixels(relay, range(101, 121))
        relay.process.kill()  # no chance to commit what the last interval answered
        relay.process.wait(timeout=20)
    finally:
        relay.stop()
    stored = stored_sends(relay)
    assert stored[:100] == list(range(1, 101))
    assert stored[100:] == list(range(101, 101 + len(stored) - 100))  # a prefix of the rest, nothing twice

"""Where an event enters the engine, the rules that need the send: a click within
seconds of delivery, and many links of one message within a second, are a machine's."""

from __future__ import annotations

import json

from engine.flow.fileformat import loads_flow
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine
from engine.runtime.sink import EngineSink
from tests.integration.support import leads, query

from .support import BROWSER_UA, OFFER, SHOES, two_link_flow

DELIVERED = 1_700_000_000_000


def delivered_send(db) -> tuple[CampaignEngine, int]:
    engine = CampaignEngine.create(db, loads_flow(json.dumps(two_link_flow())), SystemClock(), delivery="real")
    engine.enroll(leads("ann@example.com"))
    engine.process_until()
    query(db, "UPDATE sends SET status = 'sent', sent_at = ?", (DELIVERED,))
    (send_id,), = query(db, "SELECT id FROM sends")
    return engine, send_id


def machine_flags(db) -> list[tuple]:
    return [(t, u, at - DELIVERED, bool(m)) for t, u, at, m in
            query(db, "SELECT type, url, at, machine FROM events WHERE type IN ('open', 'click') ORDER BY at, id")]


async def test_a_click_within_seconds_of_delivery_is_a_scanners_and_a_later_one_the_readers(db):
    engine, send_id = delivered_send(db)
    sink = EngineSink(db)
    assert await sink.record_open(engine.uid, send_id, DELIVERED + 300)  # opens: only the request rules
    assert await sink.record_click(engine.uid, send_id, OFFER, DELIVERED + 800)
    assert await sink.record_click(engine.uid, send_id, OFFER, DELIVERED + 60_000)
    assert await sink.record_click(engine.uid, send_id, OFFER, DELIVERED + 61_000, machine="scanner")
    assert machine_flags(db) == [("open", None, 300, False), ("click", OFFER, 800, True),
                                 ("click", OFFER, 60_000, False), ("click", OFFER, 61_000, True)]


async def test_the_sandbox_has_no_link_scanner(db):
    engine, send_id = delivered_send(db)
    sink = EngineSink(db)
    sink.delivery_rule = False  # what the runner sets when it sends to the sandbox
    assert await sink.record_click(engine.uid, send_id, OFFER, DELIVERED + 800)
    assert machine_flags(db) == [("click", OFFER, 800, False)]


async def test_every_link_of_a_message_within_a_second_is_a_scanners_burst(db):
    engine, send_id = delivered_send(db)
    sink = EngineSink(db)
    # Two separate requests, two separate commits: the first is re-marked while still pending.
    assert await sink.record_click(engine.uid, send_id, OFFER, DELIVERED + 120_000)
    assert machine_flags(db) == [("click", OFFER, 120_000, False)]
    assert await sink.record_click(engine.uid, send_id, SHOES, DELIVERED + 120_400)
    assert machine_flags(db) == [("click", OFFER, 120_000, True), ("click", SHOES, 120_400, True)]
    assert await sink.record_click(engine.uid, send_id, SHOES, DELIVERED + 300_000)  # the reader, later
    assert machine_flags(db)[-1] == ("click", SHOES, 300_000, False)


async def test_the_local_tracking_server_records_a_privacy_proxys_open_as_a_machines(db):
    import aiohttp

    from engine.delivery.tracking_server import TrackingServer
    from engine.delivery.tracking_tokens import TrackingTokens

    engine, send_id = delivered_send(db)
    tokens = TrackingTokens(b"t" * 64)
    server = TrackingServer(tokens, EngineSink(db))
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            for agent in ("Mozilla/5.0", BROWSER_UA):
                async with http.get(f"{server.public_url}/o/{tokens.open_token(engine.uid, send_id)}.gif",
                                    headers={"User-Agent": agent}) as response:
                    assert response.status == 200
    finally:
        await server.stop()
    assert [m for _t, _u, _at, m in machine_flags(db)] == [True, False]
    assert server.counters.machine == 1

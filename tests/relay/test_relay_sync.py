"""Readers open and click through the public relay while the desktop engine is
stopped; when it starts again it pulls every event once, plays them in their
true time order, and only what people did drives the "opened?" condition."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from engine.flow.fileformat import loads_flow
from engine.relay.secrets import installation_sync_secret
from engine.relay.sync import RelayClient, RelaySync
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine
from tests.integration.support import leads, mailbox, query, subjects_by_recipient, until

from .support import BROWSER_UA, OFFER, SHOES, links_in, relay_runner, two_link_flow

READERS = ["ann@example.com", "bob@example.com", "carl@example.com", "dan@example.com"]


def start(db, flow, addresses):
    engine = CampaignEngine.create(db, loads_flow(json.dumps(flow)), SystemClock(), delivery="real")
    engine.enroll(leads(*addresses))
    return engine


def first_email_links(db) -> dict[str, dict[str, list[str]]]:
    found = {}
    for message in mailbox(db):
        if message.subject and message.subject.startswith("Hi "):
            found[message.rcpt_tos[0]] = links_in(message.body("html"))
    return found


async def deliver_first_emails(db, engine, relay_url: str, count: int) -> dict[str, dict[str, list[str]]]:
    """Run the engine until ``count`` readers have e1, then stop it."""
    runner = relay_runner(db, [engine], relay_url)
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: len(first_email_links(db)) == count, what="e1 for every reader")
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, 10)
        await runner.stop()
    return first_email_links(db)


async def get(http: aiohttp.ClientSession, url: str, agent: str) -> int:
    async with http.get(url, headers={"User-Agent": agent}, allow_redirects=False) as response:
        await response.read()
        return response.status


async def test_events_made_while_the_engine_was_stopped_arrive_once_in_order_and_only_people_count(db, relay):
    engine = start(db, two_link_flow(wait="30s"), READERS)
    links = await deliver_first_emails(db, engine, relay.url, len(READERS))
    assert all(url.startswith(relay.url) for url in links["ann@example.com"]["pixel"] + links["ann@example.com"]["click"])

    async with aiohttp.ClientSession() as http:
        # Ann reads it (twice); Apple's privacy proxy loads Bob's pixel; a link scanner follows
        # both of Carl's links within a second; Dan's mail gateway fetches his pixel.
        assert await get(http, links["ann@example.com"]["pixel"][0], BROWSER_UA) == 200
        assert await get(http, links["bob@example.com"]["pixel"][0], "Mozilla/5.0") == 200
        for url in links["carl@example.com"]["click"]:
            assert await get(http, url, BROWSER_UA) == 302
        assert await get(http, links["dan@example.com"]["pixel"][0], "Mimecast URL Protect/1.0") == 200
        await asyncio.sleep(0.02)
        assert await get(http, links["ann@example.com"]["pixel"][0], BROWSER_UA) == 200
        forged = links["ann@example.com"]["click"][0][:-8] + "AAAAAAAA"
        assert await get(http, forged, BROWSER_UA) == 404
    # The engine is stopped: nothing reached the campaign yet.
    assert query(db, "SELECT COUNT(*) FROM events WHERE type IN ('open', 'click')") == [(0,)]

    runner = relay_runner(db, [engine], relay.url)
    await runner.start()
    sync = RelaySync(db, RelayClient(relay.url, installation_sync_secret().decode()), sink=runner.sink, batch=2)
    task = asyncio.create_task(runner.run(until_finished=False))
    try:
        assert await sync.sync_once() == 6  # in batches of two
        assert sync.state.reachable and sync.state.waiting == 0 and sync.state.error is None
        assert await sync.sync_once() == 0  # nothing new
        # A lost cursor (or a second engine process) pulls everything again: nothing is recorded twice.
        query(db, "UPDATE relay_cursors SET cursor = 0")
        assert await sync.sync_once() == 6
        await until(lambda: "Thanks for reading" in subjects_by_recipient(db).get("ann@example.com", []),
                    what="Ann's open to send e2")
        await until(lambda: query(db, "SELECT COUNT(*) FROM events WHERE state = 'pending'") == [(0,)],
                    what="every synced event to be handled")
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, 10)
        await runner.stop()
        await sync.close()

    rows = query(db, "SELECT l.email, e.type, e.url, e.machine, e.at, e.relay_key, e.triggered FROM events e"
                     " JOIN leads l ON l.id = e.lead_id WHERE e.type IN ('open', 'click') ORDER BY e.at, e.id")
    assert [(r[0], r[1], r[2], bool(r[3])) for r in rows] == [
        ("ann@example.com", "open", None, False),
        ("bob@example.com", "open", None, True),
        ("carl@example.com", "click", OFFER, True),
        ("carl@example.com", "click", SHOES, True),
        ("dan@example.com", "open", None, True),
        ("ann@example.com", "open", None, False),
    ]
    assert len({r[5] for r in rows}) == 6  # each relay event once
    assert [r[6] != "[]" for r in rows] == [True, False, False, False, False, False]  # one YES, by Ann's first open
    subjects = subjects_by_recipient(db)
    assert [email for email in READERS if "Thanks for reading" in subjects.get(email, [])] == ["ann@example.com"]
    opened = query(db, "SELECT l.email FROM sends s JOIN leads l ON l.id = s.lead_id"
                       " WHERE s.node = 'e1' AND s.opened_at IS NOT NULL")
    assert opened == [("ann@example.com",)]  # machines' opens and clicks are not the reader's


async def test_a_condition_that_counts_machine_events_takes_the_privacy_proxys_open(db, relay):
    engine = start(db, two_link_flow(wait="30s", count_machine=True), READERS[:2])
    links = await deliver_first_emails(db, engine, relay.url, 2)
    async with aiohttp.ClientSession() as http:
        assert await get(http, links["bob@example.com"]["pixel"][0], "Mozilla/5.0") == 200
    runner = relay_runner(db, [engine], relay.url)
    await runner.start()
    sync = RelaySync(db, RelayClient(relay.url, installation_sync_secret().decode()), sink=runner.sink)
    task = asyncio.create_task(runner.run(until_finished=False))
    try:
        assert await sync.sync_once() == 1
        await until(lambda: "Thanks for reading" in subjects_by_recipient(db).get("bob@example.com", []),
                    what="the machine open to count where the condition says so")
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, 10)
        await runner.stop()
        await sync.close()
    assert "Thanks for reading" not in subjects_by_recipient(db).get("ann@example.com", [])


async def test_a_wrong_sync_secret_gets_nothing_and_says_so(db, relay):
    sync = RelaySync(db, RelayClient(relay.url, "x" * 64))
    try:
        assert await sync.sync_once() == 0
    finally:
        await sync.close()
    assert sync.state.reachable is False and "refused the sync secret" in sync.state.error
    assert query(db, "SELECT COUNT(*) FROM relay_cursors") == [(0,)]

"""SEMANTICS 12 with the real runner: an old email's pixel, link and unsubscribe,
made by another database, never act on a lead of the running campaign; the link
still goes where that email said, and the unsubscribe still stops the address."""

from __future__ import annotations

import asyncio

import aiohttp

from engine.delivery.tracking_server import PIXEL_GIF
from engine.store import suppression
from engine.store.database import Database

from .support import (
    flow_json,
    mailbox,
    make_runner,
    one_email_json,
    query,
    start_campaign,
    subjects_by_recipient,
    until,
)

OLD_LINK = "https://old.example/spring-sale"


def old_campaign(tmp_path) -> tuple[Database, str, list[tuple[int, int, str]]]:
    """Last week's campaign in another database: its uid and (send, lead, address) of each e1."""
    old = Database(tmp_path / "last-week.db")
    old.migrate()
    engine = start_campaign(old, flow_json(link=OLD_LINK, name="Last week"), ["zoe@old.example", "yan@old.example"])
    engine.process_until()  # queues e1 for both: the ids it hands out are the ones this week's campaign reuses
    sends = query(old, "SELECT s.id, l.id, l.email FROM sends s JOIN leads l ON l.id = s.lead_id ORDER BY s.id")
    return old, engine.uid, sends


async def test_an_old_emails_tokens_record_nothing_in_the_running_campaign(db, tmp_path):
    old_db, old_uid, old_sends = old_campaign(tmp_path)
    old_db.dispose()
    engine = start_campaign(db, flow_json(wait="2s", name="This week"), ["bob@example.com", "carl@example.com"])
    assert engine.uid != old_uid
    runner = make_runner(db, [engine])
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: len(mailbox(db)) == 2, what="this week's first emails")
        # The integer ids collide (that was the bug): the old send ids are this campaign's send ids too.
        this_week = {r[0] for r in query(db, "SELECT id FROM sends")}
        assert {s for s, _lead, _email in old_sends} <= this_week
        base, tokens = runner.tracking.public_url, runner.tokens
        (send_id, lead_id, address) = old_sends[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/o/{tokens.open_token(old_uid, send_id)}.gif") as response:
                assert (response.status, await response.read()) == (200, PIXEL_GIF)
            click = f"{base}/c/{tokens.click_token(old_uid, send_id, OLD_LINK)}"
            async with http.get(click, allow_redirects=False) as response:
                assert (response.status, response.headers["Location"]) == (302, OLD_LINK)
            unsubscribe = f"{base}/u/{tokens.unsubscribe_token(old_uid, lead_id, address)}"
            async with http.post(unsubscribe, data=b"List-Unsubscribe=One-Click") as response:
                assert response.status == 200 and "You are unsubscribed" in await response.text()
        await asyncio.wait_for(task, timeout=20)
    finally:
        task.cancel()
        await runner.stop()
    # Nothing happened to this week's leads: no open, no click, no unsubscribe, so no "Thanks" email.
    assert query(db, "SELECT COUNT(*) FROM events WHERE type IN ('open', 'click', 'unsubscribe')") == [(0,)]
    assert query(db, "SELECT COUNT(*) FROM leads WHERE unsubscribed_at IS NOT NULL") == [(0,)]
    assert subjects_by_recipient(db) == {"bob@example.com": ["Did you miss it?", "Hi Bob"],
                                         "carl@example.com": ["Did you miss it?", "Hi Carl"]}
    assert runner.tracking.counters.foreign == 3
    with db.session() as s:
        entry = suppression.get(s, "ZOE@old.example")
    assert (entry.email, entry.reason, entry.campaign_uid) == ("zoe@old.example", "unsubscribe", old_uid)


async def test_an_address_unsubscribed_in_one_campaign_gets_nothing_from_the_next(db):
    first = start_campaign(db, one_email_json(name="Spring"), ["ann@example.com", "bob@example.com"])
    runner = make_runner(db, [first])
    await runner.start()
    try:
        await asyncio.wait_for(runner.run(), timeout=15)
        (lead_id,) = query(db, "SELECT id FROM leads WHERE email = 'ann@example.com'")[0]
        outcome = await runner.sink.unsubscribe(first.uid, lead_id, "ann@example.com")
        assert outcome == "unsubscribed"
    finally:
        await runner.stop()
    # A later campaign names her with other capitals: the list still knows her.
    second = start_campaign(db, one_email_json(name="Summer"), ["Ann@Example.COM", "bob@example.com"])
    later = make_runner(db, [second])
    await later.start()
    try:
        await asyncio.wait_for(later.run(), timeout=15)
    finally:
        await later.stop()
    assert subjects_by_recipient(db) == {"ann@example.com": ["Hello Ann"],
                                         "bob@example.com": ["Hello Bob", "Hello Bob"]}


async def test_the_outbox_does_not_send_to_an_address_suppressed_while_its_email_waited(db):
    """The last check is at the outbox's claim: an address suppressed after its email
    was queued (a complaint arriving meanwhile) is not sent it."""
    engine = start_campaign(db, one_email_json(), ["ann@example.com", "bob@example.com"])
    engine.process_until()
    assert query(db, "SELECT COUNT(*) FROM sends WHERE status = 'queued'") == [(2,)]
    with db.session() as s:
        suppression.add(s, "Bob@Example.com", "complaint")
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        await asyncio.wait_for(runner.run(), timeout=15)
    finally:
        await runner.stop()
    assert [m.rcpt_tos for m in mailbox(db)] == [["ann@example.com"]]
    assert query(db, "SELECT l.email, s.status FROM sends s JOIN leads l ON l.id = s.lead_id ORDER BY l.email") == [
        ("ann@example.com", "sent"), ("bob@example.com", "cancelled")]

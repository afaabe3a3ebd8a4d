"""The live tracking server in a running campaign: forged, truncated and
replayed requests change nothing; unsubscribing by the page or by the
one-click POST stops every campaign's emails to that address."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from engine.delivery.tracking_tokens import TrackingTokens

from .support import (
    flow_json,
    mailbox,
    make_runner,
    one_email_json,
    query,
    start_campaign,
    subjects_by_recipient,
    two_step_json,
    until,
)

OFFER = "https://shop.example/offer"


def first_message_to(db, address: str, subject_part: str = ""):
    for m in mailbox(db):
        if address in m.rcpt_tos and subject_part in (m.subject or ""):
            return m
    return None


def links_of(html: str) -> dict[str, str]:
    found = {
        "pixel": re.search(r'<img[^>]+src="([^"]+/o/[^"]+)"', html),
        "click": re.search(r'<a[^>]+href="([^"]+/c/[^"]+)"', html),
        "unsubscribe": re.search(r'<a[^>]+href="([^"]+/u/[^"]+)"', html),
    }
    return {k: m.group(1) for k, m in found.items() if m}


def tokens_table(db) -> list[tuple]:
    return query(db, "SELECT id, lead_id, node, state, tracked, version FROM tokens ORDER BY id")


async def test_forged_truncated_and_replayed_requests_change_nothing(db):
    engine = start_campaign(db, flow_json(link=OFFER, wait="3s"), ["ann@example.com", "bob@example.com"])
    runner = make_runner(db, [engine])
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: first_message_to(db, "ann@example.com"), what="e1 for ann")
        links = links_of(first_message_to(db, "ann@example.com").body("html"))
        base = runner.tracking.public_url
        (send_id,) = query(db, "SELECT s.id FROM sends s JOIN leads l ON l.id = s.lead_id"
                               " WHERE l.email = 'ann@example.com'")[0]
        forger = TrackingTokens(b"not-the-installation-secret-000000000000")
        click_token = links["click"].rsplit("/", 1)[1]
        open_token = links["pixel"].rsplit("/", 1)[1].removesuffix(".gif")
        bad_pixels = [
            f"{base}/o/{forger.open_token(engine.uid, send_id)}.gif",  # forged signature
            f"{base}/o/{open_token[:-6]}.gif",  # truncated
            f"{base}/o/{runner.tokens.open_token(engine.uid, 987654)}.gif",  # genuine, unknown send
        ]
        bad_clicks = [
            f"{base}/c/{forger.click_token(engine.uid, send_id, 'https://evil.example/')}",
            f"{base}/c/{click_token[:-6]}",
            f"{base}/c/{click_token[:20]}",
            f"{base}/c/{open_token}",  # an open token is no click token
        ]
        async with aiohttp.ClientSession() as http:
            for url in bad_pixels:
                async with http.get(url) as response:
                    assert response.status == 200 and response.content_type == "image/gif"
            for url in bad_clicks:
                async with http.get(url, allow_redirects=False) as response:
                    assert response.status == 404 and "Location" not in response.headers
            assert runner.tracking.rejected == len(bad_pixels) + len(bad_clicks)
            assert query(db, "SELECT COUNT(*) FROM events WHERE type IN ('open', 'click')") == [(0,)]

            async with http.get(links["click"], allow_redirects=False) as response:
                assert (response.status, response.headers["Location"]) == (302, OFFER)
            # e2 goes out and its token walks on to the end once it is delivered.
            await until(lambda: query(db, "SELECT COUNT(*) FROM tokens WHERE node = 'end1' AND state = 'finished'")
                        == [(1,)], what="the click to send e2 and its token to finish")
            before = tokens_table(db)
            async with http.get(links["click"], allow_redirects=False) as response:  # the reader clicks again
                assert (response.status, response.headers["Location"]) == (302, OFFER)
            await until(lambda: query(db, "SELECT COUNT(*) FROM events WHERE type = 'click' AND"
                                          " state = 'pending'") == [(0,)], what="the replay to be handled")
            assert query(db, "SELECT COUNT(*) FROM events WHERE type = 'click'") == [(2,)]
            assert tokens_table(db) == before
        await asyncio.wait_for(task, timeout=15)
    finally:
        task.cancel()
        await runner.stop()
    assert runner.tracking.rejected == len(bad_pixels) + len(bad_clicks)
    assert runner.tracking.counters.clicks == 2
    assert query(db, "SELECT COUNT(*) FROM sends WHERE node = 'e2'") == [(1,)]
    assert subjects_by_recipient(db)["ann@example.com"] == ["Did you miss it?", "Hi Ann", "Thanks for reading"]
    assert subjects_by_recipient(db)["bob@example.com"] == ["Did you miss it?", "Hi Bob"]


async def test_unsubscribe_by_page_and_by_one_click_stops_every_campaign(db):
    people = ["ann@example.com", "bob@example.com", "carl@example.com"]
    spring = start_campaign(db, two_step_json(wait="3s", name="Spring"), people)
    summer = start_campaign(db, two_step_json(wait="3s", name="Summer"), people)
    runner = make_runner(db, [spring, summer])
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: len(mailbox(db)) == 6, what="both first emails to everyone")
        ann_link = links_of(first_message_to(db, "ann@example.com", "Spring").body("html"))["unsubscribe"]
        bob_header = str(first_message_to(db, "bob@example.com", "Summer").email()["List-Unsubscribe"])
        assert str(first_message_to(db, "bob@example.com", "Summer").email()["List-Unsubscribe-Post"]) == \
            "List-Unsubscribe=One-Click"
        async with aiohttp.ClientSession() as http:
            async with http.get(ann_link) as response:  # a link scanner or the reader opening the page
                page = await response.text()
                assert response.status == 200 and "<button" in page and "method='post'" in page
            assert query(db, "SELECT COUNT(*) FROM leads WHERE unsubscribed_at IS NOT NULL") == [(0,)]
            async with http.post(ann_link, data={"List-Unsubscribe": "One-Click"}) as response:  # the button
                assert response.status == 200 and "You are unsubscribed" in await response.text()
            async with http.post(bob_header.strip("<> "), data=b"List-Unsubscribe=One-Click",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
                assert response.status == 200
        await asyncio.wait_for(task, timeout=15)
    finally:
        task.cancel()
        await runner.stop()
    assert subjects_by_recipient(db) == {
        "ann@example.com": ["Spring: first", "Summer: first"],
        "bob@example.com": ["Spring: first", "Summer: first"],
        "carl@example.com": ["Spring: first", "Spring: second", "Summer: first", "Summer: second"],
    }
    assert query(db, "SELECT l.email, t.state, COUNT(*) FROM tokens t JOIN leads l ON l.id = t.lead_id"
                     " GROUP BY l.email, t.state ORDER BY l.email") == [
        ("ann@example.com", "finished", 2), ("bob@example.com", "finished", 2), ("carl@example.com", "finished", 2)]
    assert query(db, "SELECT COUNT(*) FROM waits WHERE state = 'pending'") == [(0,)]
    assert spring.complete_at is not None and summer.complete_at is not None

    # A campaign started later does not email them either.
    autumn = start_campaign(db, one_email_json(name="Autumn"), people)
    later = make_runner(db, [autumn])
    await later.start()
    try:
        await asyncio.wait_for(later.run(), timeout=10)
    finally:
        await later.stop()
    autumn_mail = [m.rcpt_tos for m in mailbox(db) if m.subject and m.subject.startswith("Hello")]
    assert autumn_mail == [["carl@example.com"]]
    assert query(db, "SELECT l.email, t.state FROM tokens t JOIN leads l ON l.id = t.lead_id"
                     " WHERE t.campaign_id = ? ORDER BY l.email", (autumn.campaign_id,)) == [
        ("ann@example.com", "finished"), ("bob@example.com", "finished"), ("carl@example.com", "finished")]

"""Delivery faults through the real runner and outbox, against the sandbox on
loopback: a server that is down then back, a 4xx, a 5xx, a drop mid-DATA.
What a user notices: every lead gets its email once (by Message-ID), the
status says why sending paused, a refused address fails its lead and the
campaign still completes and shows it."""

from __future__ import annotations

import asyncio
import json

from engine.run.report import campaign_figures

from .support import (
    copies_by_message_id,
    fast_outbox,
    flow_json,
    make_runner,
    one_email_json,
    query,
    start_campaign,
    until,
)

ADDRESSES = [f"lead{i}@example.com" for i in range(1, 6)]


async def run_to_end(runner, timeout: float = 20.0) -> None:
    await asyncio.wait_for(runner.run(), timeout=timeout)


def message_ids(db) -> set[str]:
    return {r[0] for r in query(db, "SELECT message_id FROM sends")}


async def test_server_down_pauses_sending_with_a_status_then_everything_goes_out_once(db):
    engine = start_campaign(db, one_email_json(), ADDRESSES)
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        outbox = fast_outbox(runner)
        port = runner.sandbox.port
        await runner.sandbox.stop()
        task = asyncio.create_task(runner.run())
        await until(lambda: outbox.status.state == "paused" and not query(
            db, "SELECT id FROM sends WHERE status = 'sending'"), what="the outbox to pause and hand its claims back")
        assert "cannot be reached" in outbox.status.describe()
        assert outbox.status.resume_at is not None
        # While paused nothing is spent: no attempt counted, nothing failed.
        assert query(db, "SELECT status, attempts, COUNT(*) FROM sends GROUP BY status, attempts") == [
            ("queued", 0, len(ADDRESSES))]
        await asyncio.sleep(0.6)  # several probes while the server stays down
        assert not task.done()
        await runner.sandbox.start()
        assert runner.sandbox.port == port
        await asyncio.wait_for(task, timeout=15)
    finally:
        await runner.stop()
    assert outbox.status.state in ("sending", "idle") and outbox.status.reason is None
    assert copies_by_message_id(db) == {mid: 1 for mid in message_ids(db)}
    assert len(message_ids(db)) == len(ADDRESSES)
    assert query(db, "SELECT state, COUNT(*) FROM tokens GROUP BY state") == [("finished", len(ADDRESSES))]


async def test_a_4xx_is_retried_and_then_delivered_once(db):
    engine = start_campaign(db, one_email_json(), ADDRESSES)
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        outbox = fast_outbox(runner)
        runner.sandbox.fail_next(1, "451 4.3.0 Mailbox busy, try again later")
        await run_to_end(runner)
    finally:
        await runner.stop()
    assert outbox.status.retried == 1 and outbox.status.failed == 0
    assert query(db, "SELECT status, attempts, COUNT(*) FROM sends GROUP BY status, attempts ORDER BY attempts") == [
        ("sent", 0, 4), ("sent", 1, 1)]
    assert copies_by_message_id(db) == {mid: 1 for mid in message_ids(db)}
    assert len(copies_by_message_id(db)) == len(ADDRESSES)


async def test_a_5xx_fails_that_leads_token_and_the_campaign_completes_showing_it(db):
    engine = start_campaign(db, one_email_json(), ADDRESSES)
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        fast_outbox(runner)
        runner.sandbox.fail_next(1, "550 5.1.1 No such user here")
        await run_to_end(runner)
    finally:
        await runner.stop()
    (lead_email, status, attempts, error), = query(
        db, "SELECT l.email, s.status, s.attempts, s.error FROM sends s JOIN leads l ON l.id = s.lead_id"
            " WHERE s.status != 'sent'")
    assert (status, attempts) == ("failed", 1), "a permanent refusal is not retried"
    assert "550" in error
    assert query(db, "SELECT t.state FROM tokens t JOIN leads l ON l.id = t.lead_id WHERE l.email = ?",
                 (lead_email,)) == [("failed",)]
    assert query(db, "SELECT COUNT(*) FROM tokens WHERE state = 'finished'") == [(len(ADDRESSES) - 1,)]
    with db.session() as s:
        figures = campaign_figures(s, engine.campaign_id)
    assert figures.state == "complete" and figures.complete_at is not None
    assert (figures.nodes["e1"].sent, figures.nodes["e1"].send_failed) == (4, 1)
    # The token waited on e1 for its send (a send takes time): it fails there and never reaches the end.
    assert (figures.nodes["e1"].failed, figures.nodes["end"].finished, figures.nodes["end"].failed) == (1, 4, 0)
    delivered = {rcpt for (rcpts,) in query(db, "SELECT rcpt_tos FROM mailbox_messages") for rcpt in json.loads(rcpts)}
    assert lead_email not in delivered and len(delivered) == len(ADDRESSES) - 1


async def test_a_5xx_stops_the_rest_of_that_leads_path(db):
    """The token waiting on the failed email fails there: no wait to sit out, no follow-up e3."""
    engine = start_campaign(db, flow_json(wait="30s"), ["ann@example.com"])
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        fast_outbox(runner)
        runner.sandbox.fail_next(1, "554 5.7.1 Rejected")
        await run_to_end(runner, timeout=10)  # well before the 30 s wait would end
    finally:
        await runner.stop()
    assert query(db, "SELECT node, state FROM tokens") == [("e1", "failed")]
    assert query(db, "SELECT state FROM waits WHERE node = 'w1'") == []
    assert query(db, "SELECT node, status FROM sends") == [("e1", "failed")]
    assert engine.complete_at is not None


async def test_used_up_retries_fail_the_token_too(db):
    engine = start_campaign(db, one_email_json(), ADDRESSES[:1])
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        outbox = fast_outbox(runner, max_attempts=3)
        runner.sandbox.fail_next(3, "452 4.3.1 Insufficient system storage")  # (a 421 would pause the outbox)
        await run_to_end(runner)
    finally:
        await runner.stop()
    assert query(db, "SELECT status, attempts FROM sends") == [("failed", 3)]
    assert query(db, "SELECT state FROM tokens") == [("failed",)]
    assert outbox.status.retried == 2 and outbox.status.failed == 1
    assert query(db, "SELECT COUNT(*) FROM mailbox_messages") == [(0,)]


async def test_a_drop_in_the_middle_of_data_is_retried_and_delivered_once(db):
    engine = start_campaign(db, one_email_json(), ADDRESSES)
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        fast_outbox(runner)
        runner.sandbox.drop_next(1)
        await run_to_end(runner)
    finally:
        await runner.stop()
    assert query(db, "SELECT status, COUNT(*) FROM sends GROUP BY status") == [("sent", len(ADDRESSES))]
    assert query(db, "SELECT MAX(attempts) FROM sends") == [(1,)]
    assert copies_by_message_id(db) == {mid: 1 for mid in message_ids(db)}
    assert len(message_ids(db)) == len(ADDRESSES)


async def test_a_drop_after_the_built_in_sandbox_kept_the_message_is_recorded_and_not_resent(db):
    """The ambiguous case SEMANTICS 8 names (the server kept the message, its answer was
    lost) cannot happen with the built-in sandbox: it records the send in the transaction
    that keeps the message, so the outbox's retry finds it sent and nothing goes twice.
    (An outside server would get a resend with the same Message-ID: ``tests/crash``.)"""
    engine = start_campaign(db, one_email_json(), ADDRESSES[:2])
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        fast_outbox(runner)
        runner.sandbox.drop_next(1, after_storing=True)
        await run_to_end(runner)
    finally:
        await runner.stop()
    assert copies_by_message_id(db) == {mid: 1 for mid in message_ids(db)}
    assert query(db, "SELECT status, COUNT(*) FROM sends GROUP BY status") == [("sent", 2)]


async def test_stopping_mid_send_hands_the_claims_back_so_the_next_run_sends_at_once(db):
    """Ctrl-C while the SMTP server has not answered yet: the next run must not wait out
    the two-minute lease (it showed "outbox idle" with every send still queued)."""
    from engine.delivery.smtp import Sender, SmtpSettings

    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # accepts, never greets
    engine = start_campaign(db, one_email_json(), ADDRESSES)
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        stuck = Sender(SmtpSettings.from_url(f"smtp://127.0.0.1:{silent.sockets[0].getsockname()[1]}?timeout=30"))
        runner.sender = stuck
        fast_outbox(runner)
        task = asyncio.create_task(runner.run())
        await until(lambda: query(db, "SELECT COUNT(*) FROM sends WHERE status = 'sending'") == [(len(ADDRESSES),)],
                    what="the sends to be claimed")
        task.cancel()  # what asyncio.run does on Ctrl-C
        await asyncio.gather(task, return_exceptions=True)
        assert query(db, "SELECT status, claimed_until, COUNT(*) FROM sends GROUP BY status, claimed_until") == [
            ("queued", None, len(ADDRESSES))]
    finally:
        await stuck.close()
        await runner.stop()
        silent.close()

    again = make_runner(db, [engine])
    await again.start()
    try:
        await asyncio.wait_for(again.run(), timeout=10)
    finally:
        await again.stop()
    assert copies_by_message_id(db) == {mid: 1 for mid in message_ids(db)} and len(message_ids(db)) == 5

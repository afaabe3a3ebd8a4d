"""What a bounce, a complaint or an unsubscribe email does to the campaign (docs/delivery.md)."""

from __future__ import annotations

import time

from engine.bounces.figures import bounce_figures
from engine.bounces.policy import BouncePolicy
from engine.run.report import campaign_figures
from engine.runtime.sink import EngineSink
from engine.store import suppression

from .support import TOKENS, deliver, sample, send_of, start

ANN, BOB = "no.such.person@gmail.com", "bob@example.com"


def policy(db, sink=None) -> BouncePolicy:
    return BouncePolicy(db, TOKENS.verp, lambda: int(time.time() * 1000), sink=sink)


def listed(db, address):
    with db.session() as s:
        entry = suppression.get(s, address)
        return entry.reason if entry else None


class Figures:
    def __init__(self, sends, bounces) -> None:
        self.sent, self.send_failed = sends.sent, sends.send_failed
        self.bounced, self.soft_bounced, self.complained = bounces.bounced, bounces.soft_bounced, bounces.complained


def figures(db, engine, node="e1"):
    """The node's figures as ``mailbranch status`` shows them: sends, and what came back."""
    with db.session() as s:
        return Figures(campaign_figures(s, engine.campaign_id).nodes[node],
                       bounce_figures(s, engine.campaign_id)[node])


async def test_hard_bounce_before_the_token_moved_fails_the_send_and_its_token(db):
    engine = start(db, ANN, BOB)
    deliver(db, ANN, int(time.time() * 1000))  # the 250 is recorded; the engine has not played it yet
    applied = await policy(db).apply(sample("gmail_user_unknown.eml", db, ANN))
    assert (applied.kind, applied.outcome) == ("hard", "failed")
    engine.process_until()
    send = send_of(db, ANN)
    assert (send["status"], send["token_state"]) == ("failed", "failed")
    assert send["bounced_at"] and "5.1.1" in send["error"]
    assert listed(db, ANN) == "bounce" and listed(db, BOB) is None
    e1 = figures(db, engine)
    assert (e1.bounced, e1.send_failed) == (1, 1)


async def test_hard_bounce_after_the_token_moved_on_is_recorded_and_suppresses(db):
    engine = start(db, ANN)
    deliver(db, ANN, int(time.time() * 1000))
    engine.process_until()
    assert send_of(db, ANN)["token_node"] == "w1"
    applied = await policy(db).apply(sample("gmail_user_unknown.eml", db, ANN))
    assert applied.outcome == "bounced"
    engine.process_until()
    send = send_of(db, ANN)
    assert (send["status"], send["token_state"], send["token_node"]) == ("sent", "waiting", "w1")
    assert send["bounced_at"] is not None
    assert listed(db, ANN) == "bounce"
    e1 = figures(db, engine)
    assert (e1.sent, e1.bounced, e1.send_failed) == (1, 1, 0)


async def test_hard_bounce_whose_250_was_never_recorded_fails_the_queued_send(db):
    engine = start(db, ANN)
    assert send_of(db, ANN)["status"] == "queued"
    applied = await policy(db).apply(sample("gmail_user_unknown.eml", db, ANN))
    assert applied.outcome == "failed"
    engine.process_until()
    send = send_of(db, ANN)
    assert (send["status"], send["token_state"]) == ("failed", "failed")


async def test_soft_bounces_are_counted_and_the_address_stays(db):
    engine = start(db, ANN)
    deliver(db, ANN, int(time.time() * 1000))
    for name in ("outlook_mailbox_full.eml", "yahoo_policy_block.eml"):
        assert (await policy(db).apply(sample(name, db, ANN))).outcome == "counted"
    assert send_of(db, ANN)["soft_bounces"] == 2
    assert listed(db, ANN) is None
    assert figures(db, engine).soft_bounced == 1


async def test_a_delay_warning_changes_nothing(db):
    start(db, ANN)
    deliver(db, ANN, int(time.time() * 1000))
    assert (await policy(db).apply(sample("postfix_delayed.eml", db, ANN))).outcome == "noted"
    assert send_of(db, ANN)["soft_bounces"] is None and listed(db, ANN) is None


async def test_a_complaint_suppresses_with_its_reason(db):
    engine = start(db, ANN)
    deliver(db, ANN, int(time.time() * 1000))
    applied = await policy(db).apply(sample("yahoo_arf_complaint.eml", db, ANN))
    assert (applied.kind, applied.outcome) == ("complaint", "suppressed")
    assert listed(db, ANN) == "complaint"
    assert send_of(db, ANN)["complained_at"] is not None
    assert figures(db, engine).complained == 1


async def test_an_email_to_the_unsubscribe_mailto_unsubscribes_like_the_link(db):
    engine = start(db, ANN)
    deliver(db, ANN, int(time.time() * 1000))
    sink = EngineSink(db)
    applied = await policy(db, sink).apply(sample("unsubscribe_request.eml", db, ANN))
    assert applied.outcome == "unsubscribed"
    assert listed(db, ANN) == "unsubscribe"
    engine.process_until()
    assert send_of(db, ANN)["token_state"] == "finished"


async def test_a_forged_or_foreign_token_changes_nothing(db):
    start(db, ANN)
    deliver(db, ANN, int(time.time() * 1000))
    send = send_of(db, ANN)
    forged = TOKENS.verp.make(send["uid"], send["id"])[:-2] + "aa"
    applied = await policy(db).apply(sample("gmail_user_unknown.eml", token=forged))
    assert applied.outcome == "forged"
    other = TOKENS.verp.make("AbCdEfGhIjKlMnOpQrStUv", send["id"])  # genuine, another campaign
    assert (await policy(db).apply(sample("gmail_user_unknown.eml", token=other))).outcome == "unmatched"
    assert listed(db, ANN) is None and send_of(db, ANN)["bounced_at"] is None


async def test_the_returned_message_id_is_trusted_only_with_the_same_address(db):
    start(db, ANN, BOB)
    for who in (ANN, BOB):
        deliver(db, who, int(time.time() * 1000))
    bob_mid = send_of(db, BOB)["message_id"]
    without_verp = sample("gmail_user_unknown.eml", message_id=bob_mid).replace(b"bounce+nothing@bounces.", b"news@")
    assert (await policy(db).apply(without_verp)).outcome == "unmatched"  # the DSN names Ann, not Bob
    assert listed(db, BOB) is None
    ann_mid = send_of(db, ANN)["message_id"]
    genuine = sample("gmail_user_unknown.eml", message_id=ann_mid).replace(b"bounce+nothing@bounces.", b"news@")
    assert (await policy(db).apply(genuine)).outcome == "failed"
    assert listed(db, ANN) == "bounce"


async def test_a_message_read_twice_acts_once(db):
    start(db, ANN)
    deliver(db, ANN, int(time.time() * 1000))
    raw = sample("outlook_mailbox_full.eml", db, ANN)
    assert (await policy(db).apply(raw)).outcome == "counted"
    assert (await policy(db).apply(raw)).outcome == "duplicate"
    assert send_of(db, ANN)["soft_bounces"] == 1


async def test_the_campaign_status_the_app_and_the_api_read_counts_what_came_back(db):
    from engine.control.views import campaign_status

    engine = start(db, ANN, BOB)
    for who in (ANN, BOB):
        deliver(db, who, int(time.time() * 1000))
    engine.process_until()
    await policy(db).apply(sample("gmail_user_unknown.eml", db, ANN))
    await policy(db).apply(sample("outlook_mailbox_full.eml", db, BOB))
    with db.session() as s:
        data = campaign_status(s, engine.campaign_id).as_json()
    assert data["bounces"]["total"] == {"bounced": 1, "soft_bounced": 1, "complained": 0}
    assert data["bounces"]["nodes"]["e1"]["bounced"] == 1


async def test_a_failed_token_wakes_the_worker_of_its_lead_in_the_same_transaction(db):
    engine = start(db, ANN)
    deliver(db, ANN, int(time.time() * 1000))
    woken = []
    bounce_policy = policy(db)
    bounce_policy.on_written = lambda session, rows: woken.extend(rows)
    assert (await bounce_policy.apply(sample("gmail_user_unknown.eml", db, ANN))).outcome == "failed"
    assert [(c, lead) for c, lead, _at in woken] == [(engine.campaign_id, 1)]

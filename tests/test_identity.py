"""SEMANTICS 12 on SQLite and PostgreSQL: campaign uids, what a token from another
campaign or database does (nothing, except an unsubscribe's suppression), and
Message-IDs that two campaigns never share."""

from __future__ import annotations

import asyncio
import json

from engine.flow.fileformat import loads_flow
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.runtime.sink import SUPPRESSED, UNSUBSCRIBED, EngineSink
from engine.store import suppression
from engine.store.bulk import fetch_all
from engine.store.database import Database


def flow(sender: str = "", name: str = "Spring") -> dict:
    e1 = {"id": "e1", "type": "email", "subject": "Hi", "html": "<p><a href='https://shop.example/a'>a</a></p>"}
    if sender:
        e1["sender"] = sender
    return {"format": "mailbranch.flow/1", "name": name,
            "nodes": [{"id": "start", "type": "start"}, e1,
                      {"id": "e2", "type": "email", "subject": "Again", "html": "<p>b</p>"},
                      {"id": "w", "type": "wait", "duration": "1d"}, {"id": "end", "type": "end"}],
            "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "w"}, {"from": "w", "to": "e2"},
                      {"from": "e2", "to": "end"}]}


def campaign(db: Database, addresses: list[str], **kwargs) -> CampaignEngine:
    engine = CampaignEngine.create(db, loads_flow(json.dumps(flow(**kwargs))), SystemClock(), delivery="real")
    engine.enroll([LeadInput(a, a) for a in addresses])
    engine.process_until()
    return engine


def rows(db: Database, sql: str, args: tuple = ()) -> list[tuple]:
    with db.session() as s:
        return [tuple(r) for r in fetch_all(s, sql, args)]


def sends_of(db: Database, engine: CampaignEngine) -> list[tuple[int, int, str, str]]:
    """(send id, lead id, address, Message-ID, token id) of the campaign's first emails."""
    return rows(db, "SELECT s.id, l.id, l.email, s.message_id, s.token_id FROM sends s JOIN leads l"
                    " ON l.id = s.lead_id WHERE s.campaign_id = ? ORDER BY s.id", (engine.campaign_id,))


def other_database(tmp_path) -> Database:
    db = Database(tmp_path / "other.db")
    db.migrate()
    return db


def test_every_campaign_has_a_uid_no_other_database_shares(engine_db, tmp_path):
    other = other_database(tmp_path)
    here, there = campaign(engine_db, ["ann@example.com"]), campaign(other, ["ann@example.com"])
    assert here.campaign_id == there.campaign_id  # integer ids restart in every database
    again = campaign(engine_db, ["ann@example.com"], name="Summer")
    uids = {here.uid, there.uid, again.uid}
    assert len(uids) == 3 and all(len(u) >= 16 and u.isascii() for u in uids)
    other.dispose()


def test_two_campaigns_never_give_one_inbox_the_same_message_id(engine_db, tmp_path):
    other = other_database(tmp_path)
    spring = campaign(engine_db, ["ann@example.com"], sender="Shop <news@Shop.Example>")
    summer = campaign(engine_db, ["ann@example.com"], name="Summer")
    elsewhere = campaign(other, ["ann@example.com"], sender="Shop <news@Shop.Example>")
    firsts = [sends_of(engine_db, spring)[0], sends_of(engine_db, summer)[0], sends_of(other, elsewhere)[0]]
    ids = [first[3] for first in firsts]
    assert len(set(ids)) == 3
    # Token ids count from the start in every database: only the campaign uid tells them apart.
    assert ids[0] == f"<t{firsts[0][4]}.e1.{spring.uid}@shop.example>"
    assert ids[2] == f"<t{firsts[2][4]}.e1.{elsewhere.uid}@shop.example>"
    # No sender on the email node: the default sender's domain.
    assert ids[1].endswith("@mailbranch.local>") and summer.uid in ids[1]
    other.dispose()


def test_an_internationalised_sender_domain_is_written_in_ascii(engine_db):
    engine = campaign(engine_db, ["ann@example.com"], sender="Jörg <jörg@bücher.example>")
    first = sends_of(engine_db, engine)[0]
    assert first[3] == f"<t{first[4]}.e1.{engine.uid}@xn--bcher-kva.example>"


def test_another_databases_tokens_record_nothing_here(engine_db, tmp_path):
    other = other_database(tmp_path)
    theirs = campaign(other, ["zoe@old.example"])
    ours = campaign(engine_db, ["bob@example.com"])
    their_send = sends_of(other, theirs)[0][0]
    our_send, our_lead = sends_of(engine_db, ours)[0][:2]
    sink = EngineSink(engine_db)

    async def scenario():
        # Their ids, and ids that are also ours (integer ids restart in every database).
        return (await sink.record_open(theirs.uid, their_send, 1_000),
                await sink.record_open(theirs.uid, our_send, 1_000),
                await sink.record_click(theirs.uid, our_send, "https://old.example/", 1_000),
                await sink.unsubscribe(theirs.uid, our_lead, "Zoe@Old.Example"),
                await sink.record_open(None, our_send, 1_000))  # a release 0.1 token: no campaign at all

    assert asyncio.run(scenario()) == (False, False, False, SUPPRESSED, False)
    assert rows(engine_db, "SELECT COUNT(*) FROM events WHERE type <> 'delivered'") == [(0,)]
    assert rows(engine_db, "SELECT COUNT(*) FROM leads WHERE unsubscribed_at IS NOT NULL") == [(0,)]
    with engine_db.session() as s:
        assert [(e.email, e.reason, e.campaign_uid) for e in suppression.entries(s)] == [
            ("zoe@old.example", "unsubscribe", theirs.uid)]
    assert sink.foreign == 5
    other.dispose()


def test_an_earlier_campaigns_token_acts_only_on_its_own_lead(engine_db):
    earlier = campaign(engine_db, ["zoe@example.com"], name="Earlier")
    running = campaign(engine_db, ["bob@example.com", "zoe@example.com"], name="Running")
    old_send, old_lead = sends_of(engine_db, earlier)[0][:2]
    bob_send = sends_of(engine_db, running)[0][0]
    sink = EngineSink(engine_db)

    async def scenario():
        return (await sink.record_open(earlier.uid, old_send, 1_000),  # its own campaign: recorded there
                await sink.record_open(running.uid, old_send, 1_000),  # a send of another campaign: nothing
                await sink.record_open(earlier.uid, bob_send, 1_000),  # nothing
                await sink.unsubscribe(earlier.uid, old_lead, "zoe@example.com"))

    assert asyncio.run(scenario()) == (True, False, False, UNSUBSCRIBED)
    opens = rows(engine_db, "SELECT campaign_id, lead_id, send_id FROM events WHERE type = 'open'")
    assert opens == [(earlier.campaign_id, old_lead, old_send)]
    # The unsubscribe is the address's: Zoe is suppressed, and her tokens end in both campaigns;
    # Bob, a different lead, is untouched.
    assert rows(engine_db, "SELECT l.email, e.campaign_id FROM events e JOIN leads l ON l.id = e.lead_id"
                           " WHERE e.type = 'unsubscribe' ORDER BY e.campaign_id") == [
        ("zoe@example.com", earlier.campaign_id), ("zoe@example.com", running.campaign_id)]
    with engine_db.session() as s:
        assert suppression.is_suppressed(s, "zoe@example.com") and not suppression.is_suppressed(s, "bob@example.com")


def test_an_unsubscribe_token_whose_lead_has_another_address_suppresses_only_the_signed_one(engine_db):
    """A lead id reused for someone else never unsubscribes that someone."""
    running = campaign(engine_db, ["bob@example.com"])
    lead = sends_of(engine_db, running)[0][1]
    sink = EngineSink(engine_db)
    assert asyncio.run(sink.unsubscribe(running.uid, lead, "zoe@example.com")) == SUPPRESSED
    assert rows(engine_db, "SELECT COUNT(*) FROM leads WHERE unsubscribed_at IS NOT NULL") == [(0,)]
    with engine_db.session() as s:
        assert [e.email for e in suppression.entries(s)] == ["zoe@example.com"]


def test_a_suppressed_address_is_skipped_whatever_its_letters_case(engine_db):
    """Stored lower-cased, matched on both databases, non-ASCII capitals too."""
    with engine_db.session() as s:
        suppression.add(s, "JÖRG@Bücher.example", "complaint")
        suppression.add(s, "ann@example.com", "unsubscribe")
    engine = campaign(engine_db, ["jörg@BÜCHER.example", "ANN@Example.com", "bob@example.com"])
    assert [r[2] for r in sends_of(engine_db, engine)] == ["bob@example.com"]
    assert sorted(rows(engine_db, "SELECT reason FROM skips WHERE campaign_id = ?", (engine.campaign_id,))) == [
        ("complaint",), ("unsubscribe",)]

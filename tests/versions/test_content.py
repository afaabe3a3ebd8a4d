"""SEMANTICS 11: an email whose content changed sends the new content from then on;
sends already made stay made."""

from __future__ import annotations

import json

from engine.flow.fileformat import loads_flow
from engine.run.clock import SystemClock
from engine.versions.publish import publish
from tests.crash.inprocess import deliver_queued, flow_a, query, runner, start


def _with_subject(node: str, subject: str):
    data = json.loads(_flow_a_text())
    for n in data["nodes"]:
        if n["id"] == node:
            n["subject"] = subject
    return loads_flow(json.dumps(data))


def _flow_a_text() -> str:
    from engine.flow.fileformat import dumps_flow

    return dumps_flow(flow_a("3s"))


async def test_a_fixed_subject_goes_out_from_then_on_and_sent_emails_stay_sent(tmp_path, monkeypatch):
    from engine.store.database import Database

    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    db = Database(tmp_path / "campaign.db")
    db.migrate()
    engine = start(db, leads=2, wait="3s")
    engine.process_until()
    r = runner(db, engine)
    await r.start()
    try:
        await r.step()  # e1 goes out as first written
        assert sorted(s for (s,) in query(db, "SELECT subject FROM mailbox_messages")) == ["Offer", "Offer"]
        publish(db, engine.campaign_id, _with_subject("e3", "Missed it? Last day"), note="typo")
        publish(db, engine.campaign_id, _with_subject("e3", "Missed it? Last day!"), note="one more")
        deliver_queued(db, SystemClock().now())
        engine.process_until(SystemClock().now() + 4000)  # w1 ends: e3 is queued under version 3
        await r.step()
    finally:
        await r.stop()
    subjects = sorted(s for (s,) in query(db, "SELECT subject FROM mailbox_messages"))
    assert subjects == ["Missed it? Last day!", "Missed it? Last day!", "Offer", "Offer"]
    assert query(db, "SELECT version FROM campaigns") == [(3,)]
    db.dispose()

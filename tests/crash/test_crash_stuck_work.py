"""Stuck work (SEMANTICS 8): a send claimed by a worker that died is found by
the outbox's sweep once its lease runs out, and delivered once; a batch
killed half-way leaves the state it started from untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from engine.run.clock import SystemClock

from .inprocess import copies_by_message_id, deliver_queued, query, runner, snapshot, start


async def test_a_send_claimed_by_a_dead_worker_is_requeued_and_delivered_once(db):
    engine = start(db, leads=3)
    engine.process_until()
    assert query(db, "SELECT status, COUNT(*) FROM sends GROUP BY status") == [("queued", 3)]
    now = SystemClock().now()
    dead, alive, free = [r[0] for r in query(db, "SELECT id FROM sends ORDER BY id")]
    # As a dead worker leaves them: claimed, lease run out; and one claim whose lease still holds.
    with db.engine.begin() as c:
        c.exec_driver_sql("UPDATE sends SET status = 'sending', claimed_until = ? WHERE id = ?", (now - 1, dead))
        c.exec_driver_sql("UPDATE sends SET status = 'sending', claimed_until = ? WHERE id = ?", (now + 60_000, alive))
    r = runner(db, engine)
    await r.start()
    try:
        await r.step()
        await r.step()
        status = dict(query(db, "SELECT id, status FROM sends"))
        assert status[dead] == "sent" and status[free] == "sent"
        assert status[alive] == "sending"  # someone still holds it: not taken, not sent
        # Its worker died too: the lease runs out and the sweep re-queues it.
        with db.engine.begin() as c:
            c.exec_driver_sql("UPDATE sends SET claimed_until = ? WHERE id = ?", (SystemClock().now() - 1, alive))
        await r.step()
    finally:
        await r.stop()
    assert query(db, "SELECT status, COUNT(*) FROM sends GROUP BY status") == [("sent", 3)]
    mids = [m for (m,) in query(db, "SELECT message_id FROM sends")]
    assert copies_by_message_id(db) == {m: 1 for m in mids}


KILLED_BATCH = """
import sys
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine
from engine.store.database import Database
engine = CampaignEngine(Database(sys.argv[1]), 1, SystemClock())
engine.process_until()
"""


def test_a_batch_killed_half_way_leaves_the_prior_state_intact(db, tmp_path):
    engine = start(db, leads=5, wait="1s")
    engine.process_until()  # e1 queued
    deliver_queued(db, SystemClock().now())  # and delivered: every token listening at c1, waiting at w1
    engine.process_until()
    e1_at = query(db, "SELECT MIN(sent_at) FROM sends")[0][0]
    engine.record_event("open", at=e1_at + 200, lead="lead0@example.com", email="e1")  # one lead opened e1
    time.sleep(1.2)  # and w1 is due for everyone
    db.dispose()
    for point in ("batch_loaded", "mid_batch", "before_commit"):
        before = snapshot(db)
        env = {**os.environ, "MAILBRANCH_CRASH_AT": f"{point}:1"}
        proc = subprocess.run([sys.executable, "-c", KILLED_BATCH, str(tmp_path / "campaign.db")], env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        db.dispose()
        assert snapshot(db) == before, f"a batch killed at {point} left something behind"
    # No token is ever left between states: they are only written by whole batches.
    assert {s for (s,) in query(db, "SELECT DISTINCT state FROM tokens")} == {"waiting"}
    engine.process_until()
    sends = query(db, "SELECT node, COUNT(*) FROM sends GROUP BY node ORDER BY node")
    assert sends == [("e1", 5), ("e2", 1), ("e3", 5)]
    assert query(db, "SELECT state, COUNT(*) FROM waits GROUP BY state") == [("fired", 10)]

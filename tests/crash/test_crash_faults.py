"""Database faults and a tracking request while the engine is stopped
(SMTP faults are covered through the runner in tests/integration/test_faults.py).

What a user notices: the campaign waits out a locked database or a full disk
and then carries on; nothing is half-written meanwhile; every lead gets its
emails once; an open recorded while the engine was down is acted on when it
comes back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from engine.run import batch as batch_module
from engine.run.batch_statements import INSERT_SEND
from engine.run.clock import SystemClock

from .harness import MAILBRANCH, ROOT, CountingServer, free_port
from .inprocess import copies_by_message_id, query, runner, snapshot, start, write_lock

DISK_FULL = "database or disk is full"


def short_busy_timeout(db, ms: int = 200) -> None:
    """Give up on a lock after ``ms`` instead of ten seconds (new connections)."""
    db.dispose()
    event.listen(db.engine, "connect", lambda c, _r: c.execute(f"PRAGMA busy_timeout={ms}"))


def test_a_locked_database_fails_the_batch_cleanly_and_it_plays_once_the_lock_is_gone(db, tmp_path):
    """A batch takes SQLite's write lock first (BEGIN IMMEDIATE) and waits up to the busy
    timeout for it; a lock held longer fails the batch cleanly, with nothing half-written."""
    engine = start(db, leads=3)
    before = snapshot(db)
    with write_lock(tmp_path / "campaign.db"):
        with pytest.raises(OperationalError, match="locked"):
            engine.process_until()
        assert snapshot(db) == before
    assert engine.process_until() > 0
    assert query(db, "SELECT node, status, COUNT(*) FROM sends GROUP BY node, status") == [("e1", "queued", 3)]


async def test_a_lock_held_longer_than_the_busy_timeout_fails_the_pass_and_the_run_carries_on(db, tmp_path):
    engine = start(db, leads=3, wait="1s")
    short_busy_timeout(db)
    before = snapshot(db)
    r = runner(db, engine)
    await r.start()
    try:
        with write_lock(tmp_path / "campaign.db"):
            task = asyncio.create_task(r.run())
            await asyncio.sleep(1.0)  # several passes run into the lock
            assert not task.done() or task.exception() is None, task.exception()
            assert snapshot(db) == before  # nothing half-written
        await asyncio.wait_for(task, timeout=20)
    finally:
        await r.stop()
    assert query(db, "SELECT node, status, COUNT(*) FROM sends GROUP BY node, status") == [
        ("e1", "sent", 3), ("e3", "sent", 3)]
    assert set(copies_by_message_id(db).values()) == {1}


def test_a_full_disk_in_the_middle_of_a_batch_writes_nothing_then_the_run_continues(db, monkeypatch):
    engine = start(db, leads=4)
    before = snapshot(db)
    real = batch_module.execute_many

    def full_disk(session, sql, rows):
        if sql == INSERT_SEND:
            raise sqlite3.OperationalError(DISK_FULL)
        return real(session, sql, rows)

    monkeypatch.setattr(batch_module, "execute_many", full_disk)
    with pytest.raises(sqlite3.OperationalError, match=DISK_FULL):
        engine.process_until()
    assert snapshot(db) == before  # tokens moved, waits fired... all rolled back with the failing insert
    monkeypatch.setattr(batch_module, "execute_many", real)  # space is back
    assert engine.process_until() > 0
    assert query(db, "SELECT node, COUNT(*) FROM sends GROUP BY node") == [("e1", 4)]
    assert query(db, "SELECT state, COUNT(*) FROM tokens GROUP BY state") == [("waiting", 4)]


async def test_a_full_disk_under_the_runner_pauses_the_campaign_until_space_returns(db, monkeypatch):
    engine = start(db, leads=3, wait="1s")
    real = batch_module.execute_many
    failures = {"left": 5}

    def full_disk(session, sql, rows):
        if sql == INSERT_SEND and failures["left"] > 0:
            failures["left"] -= 1
            raise sqlite3.OperationalError(DISK_FULL)
        return real(session, sql, rows)

    monkeypatch.setattr(batch_module, "execute_many", full_disk)
    r = runner(db, engine)
    await r.start()
    try:
        await asyncio.wait_for(r.run(), timeout=30)
    finally:
        await r.stop()
    assert failures["left"] == 0
    assert query(db, "SELECT node, status, COUNT(*) FROM sends GROUP BY node, status") == [
        ("e1", "sent", 3), ("e3", "sent", 3)]
    assert set(copies_by_message_id(db).values()) == {1}
    assert query(db, "SELECT COUNT(*) FROM waits WHERE state = 'pending'") == [(0,)]


def test_an_open_while_the_engine_is_stopped_is_recorded_and_handled_when_it_returns(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "MAILBRANCH_HOME": str(home), "MAILBRANCH_GRACE_MS": "300"}
    env.pop("MAILBRANCH_CRASH_AT", None)
    sandbox = CountingServer(tmp_path)  # keeps every copy: a resend would show
    flow = {
        "format": "mailbranch.flow/1", "name": "Flow A",
        "nodes": [{"id": "start", "type": "start"},
                  {"id": "e1", "type": "email", "subject": "Offer", "html": "<p>Offer</p>"},
                  {"id": "c1", "type": "condition", "event": "open", "email": "e1"},
                  {"id": "e2", "type": "email", "subject": "Thanks", "html": "<p>Coupon</p>"},
                  {"id": "w1", "type": "wait", "duration": "8s"},
                  {"id": "e3", "type": "email", "subject": "Missed it?", "html": "<p>Last</p>"},
                  {"id": "end1", "type": "end"}, {"id": "end2", "type": "end"}],
        "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "c1"},
                  {"from": "c1", "port": "yes", "to": "e2"}, {"from": "e2", "to": "end1"},
                  {"from": "c1", "port": "no", "to": "w1"}, {"from": "w1", "to": "e3"},
                  {"from": "e3", "to": "end2"}],
    }
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    (tmp_path / "leads.csv").write_text("id,email\nann,ann@example.com\nbob,bob@example.com\n")
    db_path = tmp_path / "campaign.db"
    command = [*MAILBRANCH, "run", str(tmp_path / "flow.json"), "--leads", str(tmp_path / "leads.csv"),
               "--db", str(db_path), "--smtp", f"smtp://127.0.0.1:{sandbox.port}",
               "--tracking-port", str(free_port()), "--quiet"]

    def rows(sql):
        with sqlite3.connect(db_path, timeout=30) as c:
            return c.execute(sql).fetchall()

    try:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (db_path.exists() and _sent(rows) == 2):
            time.sleep(0.05)
        assert _sent(rows) == 2, "e1 was not sent"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        stopped_at = SystemClock().now()
        out = subprocess.run([*MAILBRANCH, "event", "open", "--db", str(db_path), "--lead", "ann", "--email", "e1"],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert rows("SELECT type, state, at >= ? FROM events WHERE type = 'open'".replace("?", str(stopped_at))) == [
            ("open", "pending", 1)]
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        sandbox.close()
    assert rows("SELECT e.state, e.triggered FROM events e WHERE type = 'open'") == [("handled", '["c1"]')]
    assert sorted(rows("SELECT l.key, s.node, s.status FROM sends s JOIN leads l ON l.id = s.lead_id")) == [
        ("ann", "e1", "sent"), ("ann", "e2", "sent"), ("ann", "e3", "sent"),
        ("bob", "e1", "sent"), ("bob", "e3", "sent")]
    received = [m for m, _at in sandbox.messages("example.com")]
    assert len(received) == len(set(received)) == 5


def _sent(rows) -> int:
    try:
        return rows("SELECT COUNT(*) FROM sends WHERE status = 'sent'")[0][0]
    except sqlite3.OperationalError:
        return 0

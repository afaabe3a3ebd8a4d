"""Helpers for the in-process stuck-work and fault tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from engine.delivery.smtp import SmtpSettings
from engine.flow.fileformat import loads_flow
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.runtime.runner import CampaignRunner, RunnerSettings
from engine.store.database import Database

TABLES = ("campaigns", "leads", "tokens", "sends", "skips", "waits", "listeners", "events", "edge_counts")


def flow_a(wait: str = "3s") -> Any:
    return loads_flow(json.dumps({
        "format": "mailbranch.flow/1", "name": "Flow A",
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "e1", "type": "email", "subject": "Offer", "html": '<p><a href="https://shop.example/o">o</a></p>'},
            {"id": "c1", "type": "condition", "event": "open", "email": "e1"},
            {"id": "e2", "type": "email", "subject": "Thanks", "html": "<p>Coupon</p>"},
            {"id": "w1", "type": "wait", "duration": wait},
            {"id": "e3", "type": "email", "subject": "Missed it?", "html": "<p>Last chance</p>"},
            {"id": "end1", "type": "end"}, {"id": "end2", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "e1"}, {"from": "e1", "to": "c1"},
            {"from": "c1", "port": "yes", "to": "e2"}, {"from": "e2", "to": "end1"},
            {"from": "c1", "port": "no", "to": "w1"}, {"from": "w1", "to": "e3"}, {"from": "e3", "to": "end2"},
        ],
    }))


def addresses(n: int) -> list[LeadInput]:
    return [LeadInput(f"lead{i}@example.com", f"lead{i}@example.com") for i in range(n)]


def start(db: Database, leads: int = 3, wait: str = "3s") -> CampaignEngine:
    engine = CampaignEngine.create(db, flow_a(wait), SystemClock(), delivery="real")
    engine.enroll(addresses(leads))
    return engine


def runner(db: Database, engine: CampaignEngine) -> CampaignRunner:
    return CampaignRunner(db, [engine], RunnerSettings(SmtpSettings.from_url("sandbox"), tracking_port=0,
                                                       grace_ms=0, poll_seconds=0.1))


def deliver_queued(db: Database, at: int) -> int:
    """What the outbox records when the server answers 250 for every queued send: each send
    ``sent`` and a ``delivered`` event, so the engine moves its token on (SEMANTICS 9)."""
    from engine.runtime.settled import settle_events
    from engine.store.bulk import execute_many, fetch_all

    with db.session() as s:
        rows = [(at, send_id) for (send_id,) in fetch_all(s, "SELECT id FROM sends WHERE status = 'queued'")]
        settle_events(s, "delivered", rows, unsettled=("queued",))
        return execute_many(s, "UPDATE sends SET status = 'sent', sent_at = ? WHERE id = ? AND status = 'queued'",
                            rows)


def query(db: Database, sql: str, args: tuple = ()) -> list[tuple]:
    with db.engine.connect() as c:
        return [tuple(r) for r in c.exec_driver_sql(sql, args).fetchall()]


def snapshot(db: Database) -> dict[str, list[tuple]]:
    """Every row of the run's tables, to show a failed batch left nothing behind."""
    return {t: sorted(query(db, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


def copies_by_message_id(db: Database) -> dict[str, int]:
    """Copies the sandbox received per Message-ID. It keeps a resend once and only counts it,
    so resends show as one more key, ``"resent"``, worth their number plus one (never 1)."""
    copies = dict(query(db, "SELECT message_id, COUNT(*) FROM mailbox_messages GROUP BY message_id"))
    resent = query(db, "SELECT value FROM engine_counters WHERE name = 'sandbox_resends'")
    if resent and resent[0][0]:
        copies["resent"] = resent[0][0] + 1
    return copies


async def until(check, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def write_lock(path: Path):
    """Another connection holding SQLite's write lock (BEGIN IMMEDIATE, not committed)."""
    c = sqlite3.connect(path, timeout=0, isolation_level=None)
    c.execute("BEGIN IMMEDIATE")
    try:
        yield c
    finally:
        c.execute("ROLLBACK")
        c.close()

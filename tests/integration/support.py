"""Helpers for the integration tests: flows with short real-time waits, a runner
on loopback with fast retries, and readers of the mailbox and the tables."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Optional, Union

from engine.delivery.mailbox import MailboxMessage, count_by_message_id, count_resends, list_messages
from engine.delivery.smtp import SmtpSettings
from engine.flow.fileformat import loads_flow
from engine.flow.model import Flow
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.runtime.outbox import Outbox
from engine.runtime.runner import CampaignRunner, RunnerSettings
from engine.store.bulk import fetch_all
from engine.store.database import Database


def flow_json(*, link: str = "https://shop.example/offer", wait: str = "3s", mode: Optional[str] = None,
              name: str = "Spring offer") -> dict[str, Any]:
    """SEMANTICS flow A: e1 (with a link) -> open? YES e2; NO wait -> e3."""
    condition: dict[str, Any] = {"id": "c1", "type": "condition", "event": "open", "email": "e1"}
    if mode:
        condition["mode"] = mode
    return {
        "format": "mailbranch.flow/1",
        "name": name,
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "e1", "type": "email", "subject": "Hi {{ first_name | default('there') }}",
             "html": f'<html><body><p>Our offer: <a href="{link}">see it</a></p></body></html>'},
            condition,
            {"id": "e2", "type": "email", "subject": "Thanks for reading", "html": "<p>Coupon inside</p>"},
            {"id": "w1", "type": "wait", "duration": wait},
            {"id": "e3", "type": "email", "subject": "Did you miss it?", "html": "<p>Last chance</p>"},
            {"id": "end1", "type": "end"},
            {"id": "end2", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "e1"},
            {"from": "e1", "to": "c1"},
            {"from": "c1", "port": "yes", "to": "e2"},
            {"from": "e2", "to": "end1"},
            {"from": "c1", "port": "no", "to": "w1"},
            {"from": "w1", "to": "e3"},
            {"from": "e3", "to": "end2"},
        ],
    }


def two_step_json(wait: str = "2s", name: str = "Two steps") -> dict[str, Any]:
    """start -> e1 -> wait -> e2 -> end: every lead gets two emails, unless something stops it."""
    return {
        "format": "mailbranch.flow/1",
        "name": name,
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "e1", "type": "email", "subject": f"{name}: first", "html": "<p>One</p>"},
            {"id": "w1", "type": "wait", "duration": wait},
            {"id": "e2", "type": "email", "subject": f"{name}: second", "html": "<p>Two</p>"},
            {"id": "end", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "e1"},
            {"from": "e1", "to": "w1"},
            {"from": "w1", "to": "e2"},
            {"from": "e2", "to": "end"},
        ],
    }


def one_email_json(name: str = "One email") -> dict[str, Any]:
    return {
        "format": "mailbranch.flow/1",
        "name": name,
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "e1", "type": "email", "subject": "Hello {{ first_name }}", "html": "<p>Hello</p>"},
            {"id": "end", "type": "end"},
        ],
        "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "end"}],
    }


def as_flow(data: dict[str, Any]) -> Flow:
    return loads_flow(json.dumps(data))


def leads(*addresses: str) -> list[LeadInput]:
    return [LeadInput(a, a, {"email": a, "first_name": a.split("@")[0].title()}) for a in addresses]


def start_campaign(db: Database, data: dict[str, Any], addresses: list[str] | tuple[str, ...]) -> CampaignEngine:
    engine = CampaignEngine.create(db, as_flow(data), SystemClock(), delivery="real")
    engine.enroll(leads(*addresses))
    return engine


def make_runner(db: Database, engines: list[CampaignEngine]) -> CampaignRunner:
    settings = RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=200, poll_seconds=0.1)
    return CampaignRunner(db, engines, settings, SystemClock())


def fast_outbox(runner: CampaignRunner, **kwargs: Any) -> Outbox:
    """Replace the runner's outbox by one whose retries and pauses take fractions of a second."""
    options = {"retry_base": 0.05, "pause_base": 0.2, "pause_cap": 0.5, "max_attempts": 6, **kwargs}
    runner.outbox = Outbox(runner.db, runner.sender, runner.tokens, lambda: runner.tracking.public_url,
                           runner.clock.now, **options)
    return runner.outbox


async def until(condition: Callable[[], Union[bool, Awaitable[bool]]], timeout: float = 10.0,
                what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def query(db: Database, sql: str, args: tuple | list = ()) -> list[tuple]:
    with db.session() as s:
        return [tuple(r) for r in fetch_all(s, sql, args)]


def mailbox(db: Database) -> list[MailboxMessage]:
    with db.session() as s:
        return list_messages(s, limit=10_000, newest_first=False)


def subjects_by_recipient(db: Database) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for m in mailbox(db):
        for rcpt in m.rcpt_tos:
            result.setdefault(rcpt, []).append(m.subject or "")
    return {k: sorted(v) for k, v in result.items()}


def copies_by_message_id(db: Database) -> dict[Optional[str], int]:
    """Copies the sandbox received per Message-ID. It keeps a resend once and only counts it,
    so resends show as one more key, ``"resent"``, worth their number plus one (never 1)."""
    with db.session() as s:
        copies = count_by_message_id(s)
        resent = count_resends(s)
    if resent:
        copies["resent"] = resent + 1
    return copies

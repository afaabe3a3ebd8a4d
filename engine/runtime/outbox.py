"""The outbox: queued sends go out over SMTP, with retries, pauses and leases.

The engine commits a send row (``queued``) in the same transaction as the
token's move, so no send is lost. The outbox claims queued rows with a lease
(``sending``, ``claimed_until``), renders and sends them, and records each
outcome:

- 250: ``sent``.
- A transient failure of the message (4xx, a drop mid-DATA, a timeout): back
  to ``queued`` with exponential backoff and jitter, until the attempts are
  used up.
- A permanent failure (5xx) or used-up retries: ``failed``, plus a
  ``send_failed`` event, so the engine fails the token in its own transaction.
- A failure of the server (cannot connect, login refused): the message is not
  to blame, so it goes back unharmed and the whole outbox pauses, probing the
  server with growing delays and saying so in ``status``.

SMTP has no idempotency key: if the process dies after the server said 250
and before ``sent`` is committed, the lease runs out and the message is sent
again, with the same Message-ID. Outcomes are committed as soon as each
group of sends finishes, to keep that window short.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from engine.delivery.mime import envelope_sender
from engine.delivery.render import DEFAULT_SENDER, EmailContent, render_raw
from engine.delivery.smtp import Sender, SendOutcome, backoff
from engine.delivery.tracked_links import TrackingUrls
from engine.delivery.tracking_tokens import TrackingTokens
from engine.faults import crash_point
from engine.flow.fileformat import loads_flow
from engine.observe.logs import OPS, op
from engine.observe.metrics import METRICS
from engine.store import suppression
from engine.store.bulk import begin_write, execute_many, fetch_all
from engine.store.database import Database

log = logging.getLogger("mailbranch.outbox")



@dataclass
class OutboxStatus:
    state: str = "idle"  # idle | sending | paused
    reason: Optional[str] = None
    resume_at: Optional[int] = None
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def describe(self) -> str:
        if self.state == "paused":
            return f"paused: {self.reason}"
        return self.state


@dataclass
class _Claimed:
    send_id: int
    campaign_id: int
    lead_id: int
    token_id: int
    node: str
    message_id: str
    attempts: int
    email: Optional[str]
    fields: dict = field(default_factory=dict)
    #: The lead unsubscribed or its address is on the suppression list: not sent.
    unsubscribed: bool = False
    campaign_uid: str = ""


class Outbox:
    def __init__(self, db: Database, sender: Sender, tokens: TrackingTokens,
                 public_url: Callable[[], str], clock_ms: Callable[[], int], *,
                 max_attempts: int = 6, lease_ms: int = 120_000, batch: int = 200,
                 retry_base: float = 30.0, pause_base: float = 2.0, pause_cap: float = 300.0,
                 campaigns: Optional[Callable[[], Optional[list[int]]]] = None) -> None:
        self.db = db
        self.sender = sender
        self.tokens = tokens
        self.public_url = public_url
        self.clock_ms = clock_ms
        self.max_attempts = max_attempts
        self.lease_ms = lease_ms
        self.batch = batch
        self.retry_base = retry_base
        self.pause_base = pause_base
        self.pause_cap = pause_cap
        #: Which campaigns this outbox serves (None: all), e.g. simulations go to the sandbox only.
        self.campaigns = campaigns
        #: Scale-out: only leads with ``id % count == index`` (index, count).
        self.shard: Optional[tuple[int, int]] = None
        #: Scale-out: called in the settling transaction with the (campaign, lead)
        #: of each ``send_failed`` event, to wake the worker that will fail the token.
        self.on_events: Optional[Callable[[object, list[tuple[int, int]]], None]] = None
        self.status = OutboxStatus()
        self._pauses = 0
        self._contents: dict[tuple[int, str], tuple[EmailContent, str]] = {}

    # -- claiming ------------------------------------------------------------
    def _scope(self) -> tuple[str, tuple]:
        ids = self.campaigns() if self.campaigns is not None else None
        shard = ""
        shard_args: tuple = ()
        if self.shard is not None:
            shard, shard_args = " AND MOD(lead_id, ?) = ?", (self.shard[1], self.shard[0])
        if ids is None:
            return shard, shard_args
        if not ids:
            return " AND 1 = 0", ()
        return f" AND campaign_id IN ({', '.join('?' for _ in ids)}){shard}", (*ids, *shard_args)

    def _claim(self, now: int) -> list[_Claimed]:
        import json

        scope, scope_args = self._scope()
        with self.db.session() as s:
            begin_write(s)
            # Sends whose worker died mid-send: their lease ran out.
            execute_many(s, "UPDATE sends SET status = 'queued', claimed_until = NULL WHERE status = 'sending'"
                            " AND claimed_until < ?", [(now,)])
            rows = fetch_all(s, "SELECT s.id, s.campaign_id, s.lead_id, s.token_id, s.node, s.message_id,"
                                " s.attempts, l.email, l.fields, l.unsubscribed_at, c.uid FROM sends s JOIN leads l"
                                " ON l.id = s.lead_id JOIN campaigns c ON c.id = s.campaign_id"
                                " WHERE s.status = 'queued' AND (s.next_attempt_at IS NULL"
                                " OR s.next_attempt_at <= ?)" + scope.replace("campaign_id", "s.campaign_id")
                                .replace("lead_id", "s.lead_id")
                                + " ORDER BY s.at, s.id LIMIT ?", (now, *scope_args, self.batch))
            if not rows:
                return []
            # One compare-and-set for the whole group; RETURNING says which rows this worker won.
            marks = ", ".join("?" for _ in rows)
            won = {r[0] for r in fetch_all(s, f"UPDATE sends SET status = 'sending', claimed_until = ? WHERE id IN"
                                              f" ({marks}) AND status = 'queued' RETURNING id",
                                           (now + self.lease_ms, *(r[0] for r in rows)))}
            # SEMANTICS 12: an address on the installation's suppression list gets nothing,
            # whichever campaign it unsubscribed from (checked again here, at the last moment).
            blocked = suppression.suppressed(s, [r[7] for r in rows if r[0] in won])
            claimed = []
            for r in rows:
                if r[0] in won:
                    fields = r[8] if isinstance(r[8], dict) else json.loads(r[8] or "{}")
                    stopped = r[9] is not None or suppression.normalise(r[7] or "") in blocked
                    claimed.append(_Claimed(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], fields, stopped,
                                            r[10]))
            return claimed

    def _release(self, send_ids: list[int]) -> None:
        with self.db.session() as s:
            execute_many(s, "UPDATE sends SET status = 'queued', claimed_until = NULL WHERE id = ?"
                            " AND status = 'sending'", [(i,) for i in send_ids])

    def next_attempt_at(self) -> Optional[int]:
        """When the outbox next has something to do (None: nothing queued)."""
        if self.status.state == "paused":
            return self.status.resume_at
        scope, scope_args = self._scope()
        with self.db.session() as s:
            row = fetch_all(s, "SELECT MIN(CASE WHEN status = 'sending' THEN claimed_until ELSE"
                               " COALESCE(next_attempt_at, 0) END), COUNT(*) FROM sends WHERE status IN"
                               " ('queued', 'sending')" + scope, scope_args)
        if not row or not row[0][1]:
            return None
        return row[0][0]

    def pending(self) -> int:
        with self.db.session() as s:
            return fetch_all(s, "SELECT COUNT(*) FROM sends WHERE status IN ('queued', 'sending')")[0][0]

    # -- sending ---------------------------------------------------------------
    def _content(self, campaign_id: int, node: str) -> tuple[EmailContent, str]:
        key = (campaign_id, node)
        if key not in self._contents:
            with self.db.session() as s:
                flow_json = fetch_all(s, "SELECT flow_json FROM campaigns WHERE id = ?", (campaign_id,))[0][0]
            flow = loads_flow(flow_json)
            for n in flow.nodes:
                if n.type == "email":
                    self._contents[(campaign_id, n.id)] = (
                        EmailContent(n.get("subject") or "", n.get("html") or "", n.get("text")),
                        n.get("sender") or DEFAULT_SENDER)
        return self._contents[key]

    async def run_once(self) -> int:
        """Send what is due; returns how many sends were settled (sent or failed)."""
        now = self.clock_ms()
        if self.status.state == "paused" and self.status.resume_at and now < self.status.resume_at:
            return 0
        claimed = await asyncio.to_thread(self._claim, now)
        if not claimed:
            if self.status.state != "paused":
                self.status.state = "idle"
            return 0
        crash_point("outbox_claimed")
        self.status.state = "sending"
        # Render each message just before a connection is free for it, so rendering
        # overlaps the SMTP round trips of the others; record each outcome within
        # about 50 ms of the server's answer, so a crash between a 250 and its
        # commit (the one window where a message can go twice) stays short.
        slots = asyncio.Semaphore(2 * self.sender.settings.max_connections)
        finished: list[tuple[_Claimed, Optional[SendOutcome]]] = []
        settled_ids: set[int] = set()
        total = 0

        async def one(item: _Claimed) -> None:
            async with slots:
                outcome = await self._send_one(item)
            finished.append((item, outcome))
            if outcome is not None and outcome.ok:
                crash_point("after_smtp_250")

        def settle_finished() -> int:
            group = finished[:]
            del finished[:len(group)]
            settled_ids.update(item.send_id for item, _outcome in group)
            return self._settle(group) if group else 0

        async def settle_often() -> None:
            nonlocal total
            while True:
                await asyncio.sleep(0.05)
                total += await asyncio.to_thread(settle_finished)

        settler = asyncio.create_task(settle_often())
        try:
            await asyncio.gather(*(one(item) for item in claimed))
        except asyncio.CancelledError:
            # Stopped mid-send (Ctrl-C): record what the server already took, and hand
            # the other claims back now so the next run sends them at once.
            settler.cancel()
            settle_finished()
            self._release([item.send_id for item in claimed if item.send_id not in settled_ids])
            raise
        settler.cancel()
        try:
            await settler
        except asyncio.CancelledError:
            pass
        return total + await asyncio.to_thread(settle_finished)

    async def _send_one(self, item: _Claimed) -> Optional[SendOutcome]:
        if item.unsubscribed or not item.email:
            return None
        content, sender = self._content(item.campaign_id, item.node)
        urls = TrackingUrls(self.public_url(), self.tokens, item.campaign_uid, item.send_id, item.lead_id,
                            item.email)
        raw, errors = render_raw(content, item.fields, email=item.email, sender=sender, urls=urls,
                                 message_id=item.message_id)
        for error in errors:
            log.warning("send %s: template problem: %s", item.send_id, error)
        return await self.sender.send_raw(envelope_sender(sender), [item.email], raw)

    def _settle(self, results: list[tuple[_Claimed, Optional[SendOutcome]]]) -> int:
        from engine.runtime.sink import INSERT_EVENT

        now = self.clock_ms()
        sent, requeue, failed, events, cancelled = [], [], [], [], []
        server_trouble: Optional[SendOutcome] = None
        for item, outcome in results:
            if outcome is None:
                cancelled.append((now, item.send_id))
            elif outcome.ok:
                sent.append((now, item.send_id))
            elif outcome.scope == "server" and not outcome.permanent:
                server_trouble = outcome
                requeue.append((item.attempts, None, outcome.error, item.send_id))
            elif outcome.permanent or item.attempts + 1 >= self.max_attempts:
                failed.append((item.attempts + 1, now, outcome.error, item.send_id))
                events.append((item.campaign_id, item.lead_id, None, "send_failed", item.node, item.send_id,
                               None, now, "outbox", "pending", "[]"))
            else:
                delay = int(backoff(item.attempts + 1, base=self.retry_base) * 1000)
                requeue.append((item.attempts + 1, now + delay, outcome.error, item.send_id))
        with self.db.session() as s:
            begin_write(s)
            execute_many(s, "UPDATE sends SET status = 'sent', sent_at = ?, claimed_until = NULL, error = NULL"
                            " WHERE id = ? AND status = 'sending'", sent)
            execute_many(s, "UPDATE sends SET status = 'cancelled', sent_at = ?, claimed_until = NULL"
                            " WHERE id = ? AND status = 'sending'", cancelled)
            execute_many(s, "UPDATE sends SET status = 'queued', attempts = ?, next_attempt_at = ?, error = ?,"
                            " claimed_until = NULL WHERE id = ? AND status = 'sending'", requeue)
            execute_many(s, "UPDATE sends SET status = 'failed', attempts = ?, sent_at = ?, error = ?,"
                            " claimed_until = NULL WHERE id = ? AND status = 'sending'", failed)
            execute_many(s, INSERT_EVENT, events)
            if events and self.on_events is not None:
                self.on_events(s, [(e[0], e[1]) for e in events])
        self.status.sent += len(sent)
        self.status.failed += len(failed)
        retried = sum(1 for r in requeue if r[1] is not None)
        self.status.retried += retried
        METRICS.delivered.inc(len(sent))
        METRICS.retries.inc(retried)
        if OPS.isEnabledFor(logging.INFO):
            by_id = {item.send_id: (item, outcome) for item, outcome in results}
            for _at, send_id in sent:
                item = by_id[send_id][0]
                op("delivered", campaign=item.campaign_id, lead=item.lead_id, token=item.token_id, node=item.node,
                   send=send_id)
            for attempts, _when, error, send_id in requeue:
                item = by_id[send_id][0]
                op("retry", campaign=item.campaign_id, lead=item.lead_id, token=item.token_id, node=item.node,
                   send=send_id, attempt=attempts, reason=error)
        for attempts, _at, error, send_id in failed:
            item = next(i for i, _o in results if i.send_id == send_id)
            op("failure", campaign=item.campaign_id, lead=item.lead_id, token=item.token_id, node=item.node,
               send=send_id, attempt=attempts, reason=error)
        if server_trouble is not None and not sent:
            self._pauses += 1
            delay = min(self.pause_cap, self.pause_base * 2 ** (self._pauses - 1))
            self.status.state = "paused"
            self.status.reason = (f"the outgoing mail server cannot be reached ({server_trouble.error}); "
                                  f"retrying in {delay:.0f}s")
            self.status.resume_at = now + int(delay * 1000)
            log.warning("sending paused: %s", self.status.reason)
        else:
            if self.status.state == "paused":
                log.info("sending resumed")
            self._pauses = 0
            self.status.state, self.status.reason, self.status.resume_at = "sending", None, None
        return len(sent) + len(failed) + len(cancelled)

"""The outbox: queued sends go out over SMTP, with retries, pauses and leases.

The engine commits a send row (``queued``) in the same transaction as the
token's move, so no send is lost. The outbox claims queued rows with a lease
(``sending``, ``claimed_until``), renders and sends them, and records each
outcome:

- 250: ``sent``.
- A transient failure of the message (4xx, a drop mid-DATA, a timeout): back
  to ``queued`` with growing delays, for a horizon of days (``policy.py``).
- A permanent failure (5xx), a message that cannot be built for its lead (a
  template that fails on its fields, an address this server cannot take), or
  the horizon passed: ``failed`` with a reason a marketer can read, plus a
  ``send_failed`` event, so the engine fails the token in its own
  transaction. Nothing one message does can stop the others.
- The server away (outage) or refusing our session (login, HELO, MAIL FROM,
  STARTTLS, certificate): the message is not to blame, so it goes back
  unharmed and the whole outbox pauses, probing with one message, and saying
  why in ``status`` (``runtime_status`` row, for other processes too).

SMTP has no idempotency key: if the process died after the server said 250
and before ``sent`` was committed, the lease would run out and the message
would go again. So each 250 is written to the outcome journal the instant it
arrives (``journal.py``), before the group commit ~50 ms later; the next pass
folds a dead process's journal into the database before it claims anything.
The built-in sandbox, in this process, records the send in the transaction
that keeps the message. What is left is a kill between the server accepting
a message and this process reading the 250 (``docs/operations.md``).

Why this module is over 400 lines: one pass's claim, lease, send and settle
share the outbox's state (the pause, the journal, the accepted instants, the
pacer), and what would split off cleanly already has (``outbox_statements``,
``outbox_verdicts``, ``journal``, ``policy``, ``pausing``, ``settled``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Optional

from engine.delivery.compose import Outgoing
from engine.delivery.dkim_signing import DkimSigner
from engine.delivery.mime import ascii_address
from engine.delivery.pacing import Deferred, DomainPacer, PacedOutcome, outcome_of
from engine.delivery.render import RenderError
from engine.delivery.smtp import MessageProblem, Sender, SendOutcome
from engine.delivery.tracked_links import TrackingUrls
from engine.delivery.tracking_tokens import TrackingTokens
from engine.faults import crash_point
from engine.flow.fileformat import loads_flow
from engine.observe.metrics import METRICS
from engine.runtime import outbox_statements as on_sends
from engine.runtime import status as runtime_status
from engine.runtime.journal import OutcomeJournal, fold_journal
from engine.runtime.outbox_verdicts import log_settlement, sort_outcomes
from engine.runtime.pausing import paused_campaigns
from engine.runtime.policy import DeliveryPolicy, describe_horizon
from engine.runtime.settled import settle_events
from engine.runtime.uncancelled import to_the_end
from engine.store import suppression
from engine.store.bulk import begin_write, execute_many, fetch_all
from engine.store.database import Database
from engine.store.statements import expand
from engine.versions.store import flow_with_email, running_versions

log = logging.getLogger("mailbranch.outbox")

#: On Ctrl-C, how long messages already on the wire may take to get their answer recorded.
STOP_GRACE_SECONDS = 10.0


@dataclass
class OutboxStatus:
    state: str = "idle"  # idle | sending | paused
    reason: Optional[str] = None
    resume_at: Optional[int] = None
    #: While paused: ``outage`` (server away) or ``session`` (server refuses us), and since when.
    cause: Optional[str] = None
    since: Optional[int] = None
    sent: int = 0
    retried: int = 0
    failed: int = 0
    #: class -> {"at": ms, "error": text}: the latest error of each class: ``server`` (away),
    #: ``session`` (refuses us), ``message`` (refused for good, or unbuildable), ``transient`` (4xx).
    last_errors: dict = field(default_factory=dict)

    def describe(self) -> str:
        if self.state == "paused":
            return f"paused: {self.reason}"
        return self.state

    def as_json(self) -> dict:
        return {"state": self.state, "reason": self.reason, "resume_at": self.resume_at, "cause": self.cause,
                "since": self.since, "sent": self.sent, "retried": self.retried, "failed": self.failed,
                "last_errors": dict(self.last_errors)}


#: A claimed send not tried because the outbox paused meanwhile: back in the queue, no try spent.
HANDED_BACK = SendOutcome(ok=False, error="not tried: sending was paused", scope="server")
#: A claimed send not tried because the outbox is stopping: released back to the queue as it was.
NOT_TRIED = SendOutcome(ok=False, error="not tried: stopping", scope="server")


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
    #: When the send was queued: the 4xx retry horizon counts from here.
    queued_at: int = 0


class Outbox:
    def __init__(self, db: Database, sender: Sender, tokens: TrackingTokens,
                 public_url: Callable[[], str], clock_ms: Callable[[], int], *,
                 max_attempts: Optional[int] = None, lease_ms: int = 120_000, batch: int = 200,
                 retry_base: Optional[float] = None, pause_base: Optional[float] = None,
                 pause_cap: Optional[float] = None, policy: Optional[DeliveryPolicy] = None,
                 status: Optional[OutboxStatus] = None, name: str = runtime_status.OUTBOX,
                 campaigns: Optional[Callable[[], Optional[list[int]]]] = None,
                 campaign_time: Optional[Callable[[int], Optional[int]]] = None) -> None:
        self.db = db
        self.sender = sender
        self.tokens = tokens
        self.public_url = public_url
        self.clock_ms = clock_ms
        self.lease_ms = lease_ms
        self.batch = batch
        # The policy; the single figures are the older way to shorten it (tests).
        self.policy = replace(policy or DeliveryPolicy(), **{k: v for k, v in {
            "max_attempts": max_attempts, "retry_base": retry_base, "outage_probe": pause_base,
            "outage_cap": pause_cap}.items() if v is not None})
        #: The ``runtime_status`` row this outbox keeps up to date.
        self.name = name
        runtime_status.ensure_table(db)
        #: Which campaigns this outbox serves (None: all), e.g. simulations go to the sandbox only.
        self.campaigns = campaigns
        #: A campaign's own clock when it is simulated (None: the wall clock), for its events' times.
        self.campaign_time = campaign_time
        #: Scale-out: only leads with ``id % count == index`` (index, count).
        self.shard: Optional[tuple[int, int]] = None
        #: Scale-out: called in the settling transaction with the (campaign, lead)
        #: of each ``send_failed`` event, to wake the worker that will fail the token.
        self.on_events: Optional[Callable[[object, list[tuple[int, int]]], None]] = None
        #: Shared by the outboxes of one worker process, so a pause holds across its jobs.
        self.status = status if status is not None else OutboxStatus()
        self._status_dirty = False
        self._contents: dict[tuple[int, str], Outgoing] = {}
        #: The version of each campaign whose content ``_contents`` holds (SEMANTICS 11).
        self._content_versions: dict[int, int] = {}
        #: Signs each message with its From domain's DKIM key, where it has one (``dkim_signing.py``).
        self.dkim: Optional[DkimSigner] = DkimSigner()
        #: Each 250 is written down the moment it arrives (``journal.py``): the window for a resend.
        self.journal = OutcomeJournal.for_database(db.url)
        self._accepted_at: dict[int, int] = {}  # send id -> when its 250 arrived, until settled
        self._in_flight: dict[str, _Claimed] = {}  # Message-ID -> claim, for the in-process sandbox
        #: Rate, concurrency and warm-up per recipient domain (``pacing.py``); None: no pacing (the sandbox).
        self.pacer: Optional[DomainPacer] = None

    # -- claiming ------------------------------------------------------------
    def _scope(self) -> tuple[str, tuple]:
        ids = self.campaigns() if self.campaigns is not None else None
        # A campaign paused by the marketer: none of its sends is claimed (its timers run on).
        with self.db.session() as s:
            held = paused_campaigns(s)
        shard = ""
        shard_args: tuple = ()
        if self.shard is not None:
            shard, shard_args = " AND MOD(lead_id, ?) = ?", (self.shard[1], self.shard[0])
        if ids is None:
            if held:
                return (f" AND campaign_id NOT IN ({', '.join('?' for _ in held)}){shard}",
                        (*held, *shard_args))
            return shard, shard_args
        ids = [i for i in ids if i not in held]
        if not ids:
            return " AND 1 = 0", ()
        return f" AND campaign_id IN ({', '.join('?' for _ in ids)}){shard}", (*ids, *shard_args)

    def _claim(self, now: int, limit: Optional[int] = None) -> list[_Claimed]:
        import json

        scope, scope_args = self._scope()
        with self.db.session() as s:
            begin_write(s)
            # Sends whose worker died mid-send: their lease ran out.
            execute_many(s, on_sends.EXPIRED_LEASES, [(now,)])
            rows = fetch_all(s, "SELECT s.id, s.campaign_id, s.lead_id, s.token_id, s.node, s.message_id,"
                                " s.attempts, l.email, l.fields, l.unsubscribed_at, c.uid, s.at"
                                " FROM sends s JOIN leads l"
                                " ON l.id = s.lead_id JOIN campaigns c ON c.id = s.campaign_id"
                                " WHERE s.status = 'queued' AND (s.next_attempt_at IS NULL"
                                " OR s.next_attempt_at <= ?)" + scope.replace("campaign_id", "s.campaign_id")
                                .replace("lead_id", "s.lead_id")
                                + " ORDER BY s.at, s.id LIMIT ?", (now, *scope_args, limit or self.batch))
            if not rows:
                return []
            # One compare-and-set for the whole group; RETURNING says which rows this worker won.
            won = {r[0] for r in fetch_all(s, expand(on_sends.CLAIM, len(rows)),
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
                                            r[10], r[11]))
            return claimed

    def _release(self, send_ids: list[int]) -> None:
        with self.db.session() as s:
            execute_many(s, on_sends.RELEASE, [(i,) for i in send_ids])

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
            return fetch_all(s, on_sends.UNSETTLED)[0][0]

    # -- sending ---------------------------------------------------------------
    def _content(self, campaign_id: int, node: str) -> Outgoing:
        key = (campaign_id, node)
        if key not in self._contents:
            with self.db.session() as s:
                flow_json = fetch_all(s, on_sends.FLOW_JSON, (campaign_id,))[0][0]
                flow = loads_flow(flow_json)
                if flow.find_node(node) is None:  # a later version removed it after this send was made
                    flow = loads_flow(flow_with_email(s, campaign_id, node) or flow_json)
            for n in flow.nodes:
                if n.type == "email":
                    # The campaign theme, the body format and the sender identity, worked out once.
                    self._contents[(campaign_id, n.id)] = Outgoing.for_node(flow, n)
        return self._contents[key]

    def _follow_versions(self, campaign_ids: set[int]) -> None:
        """A version published since the last pass: its emails' new content goes out from now on."""
        with self.db.session() as s:
            running = running_versions(s, campaign_ids)
        for campaign_id, number in running.items():
            if self._content_versions.setdefault(campaign_id, number) != number:
                self._content_versions[campaign_id] = number
                for key in [k for k in self._contents if k[0] == campaign_id]:
                    del self._contents[key]

    async def run_once(self) -> int:
        """Send what is due; returns how many sends were settled (sent or failed)."""
        now = self.clock_ms()
        if self.status.state == "paused" and self.status.resume_at and now < self.status.resume_at:
            return 0
        await asyncio.to_thread(fold_journal, self)  # 250s a killed process took but never committed
        # Paused: this pass is a probe, with a message or so, not a whole batch.
        probing = self.status.state == "paused"
        claimed = await asyncio.to_thread(self._claim, now, self.policy.probe_batch if probing else None)
        if not claimed:
            # Nothing left to send (a paused outbox too: the next send will find out
            # whether the server is back; a pause with nothing to probe would spin).
            if probing:
                self.status.reason = self.status.resume_at = self.status.cause = self.status.since = None
                await asyncio.to_thread(self.save_status)
            self.status.state = "idle"
            return 0
        crash_point("outbox_claimed")
        try:
            await asyncio.to_thread(self._follow_versions, {item.campaign_id for item in claimed})
        except asyncio.CancelledError:
            self._release([item.send_id for item in claimed])  # stopped before sending: back to the queue
            raise
        if not probing:
            self.status.state = "sending"
        # Render each message just before a connection is free for it, so rendering
        # overlaps the SMTP round trips of the others; journal each 250 at once and
        # commit the outcomes in groups every ~50 ms.
        slots = asyncio.Semaphore(2 * self.sender.settings.max_connections)
        finished: list[tuple[_Claimed, Optional[SendOutcome]]] = []
        settled_ids: set[int] = set()
        total = 0
        stopping = False
        journal = self.journal.writer() if self.journal is not None else None
        self._in_flight.update((item.message_id, item) for item in claimed)

        async def attempt(item: _Claimed) -> Optional[SendOutcome]:
            async with slots:
                if stopping:
                    return NOT_TRIED  # stopped before this one went out: handed back below
                if not probing and self.status.state == "paused":
                    return HANDED_BACK  # the server went away meanwhile
                return await self._send_one(item)

        async def one(item: _Claimed) -> None:
            # The recipient domain's lane first (its rate and concurrency), then a slot:
            # a slow provider's messages wait without holding up everyone else's.
            outcome = await self._paced_send(item, lambda: attempt(item))
            if outcome is NOT_TRIED:
                return
            self._note(outcome)
            if outcome is not None and outcome.ok:
                # Written down before anything else can run: a kill from here on sends nothing twice.
                self._accepted_at[item.send_id] = at = self.clock_ms()
                if journal is not None:
                    journal.record(item.send_id, at, item.message_id)
            finished.append((item, outcome))
            if outcome is not None and outcome.ok:
                crash_point("after_smtp_250")

        def settle_finished() -> int:
            group = finished[:]
            del finished[:len(group)]
            try:
                settled = self._settle(group) if group else 0
            except Exception:
                finished[:0] = group  # the next settle (or the journal's fold) records them
                raise
            settled_ids.update(item.send_id for item, _outcome in group)
            return settled

        async def settle_often() -> None:
            nonlocal total
            while True:
                await asyncio.sleep(0.05)
                try:
                    total += await to_the_end(asyncio.to_thread(settle_finished))
                except Exception as exc:  # noqa: BLE001 - kept in `finished`; the final settle tries again
                    log.warning("could not record sends yet (%s); retrying", exc)

        async def last_settle() -> int:
            settler.cancel()
            # asyncio.wait, not `try: await settler except CancelledError`: that would also
            # swallow a cancellation of this task arriving at the same moment (a stop).
            await asyncio.wait([settler])
            return await asyncio.to_thread(settle_finished)

        settler = asyncio.create_task(settle_often())
        sends = asyncio.gather(*(one(item) for item in claimed))
        committed = False
        try:
            try:
                await asyncio.shield(sends)
            except asyncio.CancelledError:
                # Stopped (Ctrl-C, SIGTERM, the app closing): start nothing new, let the
                # messages already on the wire get their answer and record it, and hand
                # the rest back so the next run sends them at once.
                stopping = True
                settler.cancel()
                try:
                    await asyncio.wait_for(asyncio.shield(sends), STOP_GRACE_SECONDS)
                except (TimeoutError, asyncio.CancelledError):
                    sends.cancel()
                settle_finished()
                committed = not finished
                self._release([item.send_id for item in claimed if item.send_id not in settled_ids])
                raise
            try:
                total += await to_the_end(last_settle())
            finally:
                committed = not finished  # a stop during the last group commit waited for it
            return total
        finally:
            settler.cancel()
            for item in claimed:
                self._in_flight.pop(item.message_id, None)
            if journal is not None:
                journal.close(committed=committed)  # not committed: the next pass folds it

    async def _paced_send(self, item: _Claimed,
                          attempt: Callable[[], Awaitable[Optional[SendOutcome]]]) -> Optional[SendOutcome]:
        """``attempt`` through the recipient domain's lane; a lane that cannot take it soon
        hands it back with the time it may go (no try spent, nothing marked delivered)."""
        if self.pacer is None or item.unsubscribed or not item.email:
            return await attempt()
        outcome = await self.pacer.run(item.email, attempt, accepted=lambda o: o is not None and o.ok)
        return outcome_of(outcome) if isinstance(outcome, Deferred) else outcome

    async def _send_one(self, item: _Claimed) -> Optional[SendOutcome]:
        """One send, contained: whatever this lead's data does, it ends as an outcome, never an exception."""
        if item.unsubscribed or not item.email:
            return None
        try:
            return await self._deliver(item)
        except MessageProblem as exc:
            return SendOutcome(False, True, None, str(exc), "message")
        except RenderError as exc:
            return SendOutcome(False, True, None, f"the email could not be built for this lead: {exc}", "message")
        except Exception as exc:  # noqa: BLE001 - one lead's message must never stop the others
            log.warning("send %s to %s could not be built: %s: %s", item.send_id, item.email,
                        type(exc).__name__, exc)
            return SendOutcome(False, True, None, f"the email could not be built for this lead "
                                                  f"({type(exc).__name__}: {exc})", "message")

    async def _deliver(self, item: _Claimed) -> SendOutcome:
        outgoing = self._content(item.campaign_id, item.node)
        urls = TrackingUrls(self.public_url(), self.tokens, item.campaign_uid, item.send_id, item.lead_id,
                            item.email)
        email = item.email or ""

        def render(to: str) -> tuple[str, bytes]:
            # The sender's identity, VERP Return-Path, List-Id, Feedback-ID and DKIM (``compose.py``).
            return outgoing.build(item.fields, to=to, urls=urls, message_id=item.message_id, tokens=self.tokens,
                                  send_id=item.send_id, signer=self.dkim)

        if email.isascii() and outgoing.identity.sender.ascii_address:
            envelope_from, raw = render(email)
            return await self.sender.send_raw(envelope_from, [email], raw)

        def build(smtputf8: bool) -> tuple[str, list[str], bytes]:
            # SMTPUTF8 when the server offers it (RFC 6531/6532), else IDNA for the domains.
            if not smtputf8 and not outgoing.identity.sender.ascii_address:
                raise MessageProblem(f"the sender {outgoing.identity.sender.address} has non-ASCII characters "
                                     "before the @, and the outgoing server does not offer SMTPUTF8")
            to = email if smtputf8 else ascii_address(email)
            envelope_from, raw = render(to)
            return envelope_from, [to], raw

        return await self.sender.send_built(build)

    def _note(self, outcome: Optional[SendOutcome]) -> None:
        """Pause, resume and the last errors, decided the moment an outcome arrives (not per batch)."""
        if outcome is None or outcome is HANDED_BACK or isinstance(outcome, PacedOutcome):
            return
        now = self.clock_ms()
        if not outcome.ok:
            kind = {"server": "server", "session": "session"}.get(
                outcome.scope, "message" if outcome.permanent else "transient")
            self.status.last_errors[kind] = {"at": now, "error": outcome.error}
            self._status_dirty = True
        if outcome.scope in ("server", "session") and not outcome.ok:
            self._pause("session" if outcome.scope == "session" else "outage", outcome, now)
        elif outcome.ok or outcome.code is not None:
            # The server answered about a message: it is there and takes our session.
            if self.status.state == "paused":
                log.warning("sending resumed after %.0fs: the outgoing server answers again",
                            (now - (self.status.since or now)) / 1000)
            if self.status.state != "sending" or self.status.reason is not None:
                self._status_dirty = True
            self.status.state, self.status.reason, self.status.resume_at = "sending", None, None
            self.status.cause = self.status.since = None

    def _pause(self, cause: str, outcome: SendOutcome, now: int) -> None:
        status = self.status
        if status.state != "paused" or status.cause != cause:
            status.since = now  # a new outage (or refusal): its probes start close together
        delay = self.policy.probe_delay(cause, (now - (status.since or now)) / 1000)
        if cause == "outage":
            reason = f"the outgoing mail server cannot be reached ({outcome.error}); trying again in {delay:.3g}s"
        else:
            reason = (f"the outgoing mail server refuses to send for us: {outcome.error}. No lead was failed; "
                      f"sending resumes by itself once this is fixed (next try in {delay:.3g}s)")
        first = status.state != "paused" or status.reason != reason
        status.state, status.cause, status.reason = "paused", cause, reason
        status.resume_at = now + int(delay * 1000)
        self._status_dirty = True
        if first:
            log.warning("sending paused: %s", reason)

    def _final_reason(self, item: _Claimed, outcome: SendOutcome) -> Optional[str]:
        if outcome.permanent:
            return outcome.error
        return (f"still refused for now after {item.attempts + 1} tries over "
                f"{describe_horizon(self.policy.retry_horizon)}: {outcome.error}")

    def save_status(self) -> None:
        """Write this outbox's status row now (e.g. on stop); the settle writes it when it changed."""
        with self.db.session() as s:
            runtime_status.save(s, self.name, self.status.as_json(), self.clock_ms())
        self._status_dirty = False

    def _settle(self, results: list[tuple[_Claimed, Optional[SendOutcome]]]) -> int:
        from engine.runtime.sink import INSERT_EVENT

        now = self.clock_ms()
        rows = sort_outcomes(results, now, self.policy, self.campaign_time, self._accepted_at, self._final_reason)
        with self.db.session() as s:
            begin_write(s)
            settle_events(s, "delivered", rows.delivered)
            settle_events(s, "send_skipped", rows.skipped)
            execute_many(s, on_sends.SENT, rows.sent)
            execute_many(s, on_sends.CANCELLED, rows.cancelled)
            execute_many(s, on_sends.REQUEUED, rows.requeue)
            execute_many(s, on_sends.FAILED, rows.failed)
            execute_many(s, on_sends.PACED, rows.paced)
            execute_many(s, INSERT_EVENT, rows.events)
            if self.pacer is not None and self.pacer.changed:
                runtime_status.save(s, runtime_status.PACING, self.pacer.as_json(), now)
            if self._status_dirty:
                self._status_dirty = False
                runtime_status.save(s, self.name, self.status.as_json(), now)
            woken = [(e[0], e[1]) for e in rows.events] + rows.moves_tokens
            if woken and self.on_events is not None:
                self.on_events(s, woken)
        self.status.sent += len(rows.sent)
        self.status.failed += len(rows.failed)
        retried = sum(1 for r in rows.requeue if r[1] is not None)
        self.status.retried += retried
        METRICS.delivered.inc(len(rows.sent))
        METRICS.retries.inc(retried)
        log_settlement(results, rows)
        return len(rows.sent) + len(rows.failed) + len(rows.cancelled)

"""A batch: the run's state for a set of leads over a window of time.

The engine picks the next due work (waits that are due, events not yet
handled) in time order, loads every row of the leads involved with a few
batched queries, plays the window through in memory in exact order (at one
instant, due waits before events; waits created inside the window are played
too when they fall inside it), and writes everything back in one
transaction. So an event and every token change it causes commit together,
and 100,000 leads cost a few dozen round trips, not one per lead per step.
"""

from __future__ import annotations

import heapq
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional

from sqlalchemy.orm import Session

from engine.delivery.message_ids import message_id
from engine.faults import crash_point
from engine.observe.logs import OPS
from engine.run.batch_statements import (
    CANCEL_UNSENT,
    CONVERT_LEAD,
    FAIL_ENDED_TOKEN,
    INSERT_LISTENER,
    INSERT_SEND,
    INSERT_SKIP,
    INSERT_TOKEN,
    INSERT_WAIT,
    SELECT_LAST_SLOT,
    SELECT_LEAD_DATA,
    SELECT_LISTENERS,
    SELECT_SENDS,
    SELECT_SUPPRESSED,
    SELECT_TOKENS,
    SELECT_UNSUBSCRIBED,
    SELECT_WAITS,
    UPDATE_EVENT,
    UPDATE_LISTENER,
    UPDATE_SEND_DELIVERED,
    UPDATE_SEND_EVENTS,
    UPDATE_TOKEN,
    UPDATE_WAIT,
    fill_batch_leads,
)
from engine.run.events import handle_event
from engine.run.state import EventState, LeadState, ListenerState, SendState, TokenState, WaitState
from engine.store.bulk import execute_many, fetch_all

if TYPE_CHECKING:
    from engine.run.context import RunContext

WAIT, EVENT = 0, 1  # rank within one instant: due waits fire before events
CHUNK = 10000


class ConcurrentTransition(RuntimeError):
    """A compare-and-set update found a row already moved on: retry the batch."""


def chunks(values: Iterable, size: int = CHUNK) -> Iterable[list]:
    values = list(values)
    for index in range(0, len(values), size):
        yield values[index:index + size]


class Batch:
    def __init__(self, ctx: RunContext, session: Session, boundary: int) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.session = session
        #: Changes to the campaign's count of open tracked tokens, in the order
        #: they happened: (instant, +1 or -1). Applied at commit time to the
        #: count as it then is, which finds the instant it reached zero even
        #: when other workers' batches committed in between.
        self.tracked_changes: list[tuple[int, int]] = []
        self.boundary = boundary
        self.now = ctx.clock.now()
        self.tokens: dict[int, TokenState] = {}
        #: The same tokens and sends by lead, for what acts on a whole lead (an
        #: unsubscribe, a conversion) without scanning the batch; built the first
        #: time one is needed, so batches without them pay nothing.
        self._tokens_by_lead: Optional[dict[int, list[TokenState]]] = None
        self._sends_by_lead: Optional[dict[int, list[SendState]]] = None
        self.new_tokens: list[TokenState] = []
        self.sends: dict[int, SendState] = {}
        self.send_index: dict[tuple[int, str], SendState] = {}
        self.waits: dict[int, WaitState] = {}
        self.waits_by_token: dict[int, list[WaitState]] = defaultdict(list)
        self.listeners_by_send: dict[int, list[ListenerState]] = defaultdict(list)
        self.listeners_by_token: dict[int, list[ListenerState]] = defaultdict(list)
        self.listeners: list[ListenerState] = []
        self.events: list[EventState] = []
        self.skips: list[tuple] = []
        self.edge_counts: Counter[tuple[str, str]] = Counter()
        self.unsubscribed: set[int] = set()
        #: Lead id -> why its address is on the installation's suppression list.
        self.suppressed: dict[int, str] = {}
        #: Sends whose delivery this batch played (SEMANTICS 9).
        self.delivered: list[SendState] = []
        #: The last delivery slot of a simulation with a send rate, as this batch left it.
        self.slot: Optional[float] = None
        self.ended_then_failed: list[tuple[int]] = []
        #: The leads of this batch, when a node type reads them (split, check, window).
        self.leads: dict[int, LeadState] = {}
        #: Conversions (SEMANTICS 10) as (instant, lead id), and leads whose unsent emails are cancelled.
        self.conversions: list[tuple[int, int]] = []
        self.cancelled_leads: list[tuple[int]] = []
        self.heap: list[tuple[int, int, int, object]] = []
        self.processed = 0
        #: What this batch did, for metrics and the one-line-per-operation log,
        #: both emitted only once the batch has committed.
        self.stats: Counter[str] = Counter()
        self.lags: list[int] = []
        self.log_ops = OPS.isEnabledFor(logging.INFO)
        self.ops: list[tuple[str, dict]] = []

    # -- loading ---------------------------------------------------------
    def load(self, lead_ids: set[int]) -> None:
        """Every row of these leads the window can touch, in five queries."""
        s = self.session
        fill_batch_leads(s, lead_ids)
        for r in fetch_all(s, SELECT_TOKENS):
            token = TokenState(r[0], r[1], r[2], r[3], r[4], bool(r[5]), None, r[7], r[8], r[9], r[10],
                               path_text=r[6])
            self.tokens[token.id] = token
        for r in fetch_all(s, SELECT_SENDS):
            send = SendState(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                             tuple(json.loads(r[9])) if r[9] else (), r[10], r[11], r[12],
                             tuple(json.loads(r[13])) if r[13] else ())
            self.sends[send.id] = send
            self.send_index[(send.lead_id, send.node)] = send
        for r in fetch_all(s, SELECT_WAITS):
            wait = WaitState(*r)
            self.waits[wait.id] = wait
            self.waits_by_token[wait.token_id].append(wait)
        for r in fetch_all(s, SELECT_LISTENERS):
            self._index_listener(ListenerState(*r))
        if self.spec.reads_lead:
            for r in fetch_all(s, SELECT_LEAD_DATA):
                fields = r[3] if isinstance(r[3], dict) else (json.loads(r[3]) if r[3] else {})
                self.leads[r[0]] = LeadState(r[0], r[1], r[2], fields if isinstance(fields, dict) else {})
        if self.ctx.checks_unsubscribes:
            self.unsubscribed.update(r[0] for r in fetch_all(s, SELECT_UNSUBSCRIBED))
            self.suppressed.update((r[0], r[1]) for r in fetch_all(s, SELECT_SUPPRESSED))

    def _index_listener(self, listener: ListenerState) -> None:
        self.listeners.append(listener)
        self.listeners_by_send[listener.send_id].append(listener)
        self.listeners_by_token[listener.token_id].append(listener)

    # -- playing the window ----------------------------------------------
    def schedule(self, key: int, rank: int, seq: int, item: object) -> None:
        heapq.heappush(self.heap, (key, rank, seq, item))

    def play(self) -> None:
        clock = self.ctx.clock
        half = len(self.heap) // 2
        while self.heap:
            if self.processed == half:
                crash_point("mid_batch")
            key, rank, _seq, item = heapq.heappop(self.heap)
            # On a simulated clock an item happens exactly at its time, even when
            # the clock was moved past it (the app's simulations tick ahead);
            # on the wall clock, overdue work happens now.
            clock.reach(key)
            self.now = key if clock.simulated else max(key, clock.now())
            if rank == WAIT:
                self.fire_wait(item)  # type: ignore[arg-type]
            else:
                handle_event(self, item)  # type: ignore[arg-type]
            self.processed += 1

    def walk(self, token: TokenState) -> None:
        """Walk a token node by node, each node type's ``enter`` doing that node's
        work, until one holds, finishes or fails it."""
        token.state = "active"
        token.dirty = True
        enter = self.spec.enter
        while enter[token.node](self, token):
            pass

    def fire_wait(self, wait: WaitState) -> None:
        if wait.state != "pending":
            return  # revoked earlier in this window
        wait.state, wait.fired_at, wait.dirty = "fired", self.now, True
        token = self.tokens.get(wait.token_id)
        if token is None or token.state != "waiting" or token.node != wait.node:
            return  # the token moved on (failed, or revoked by exclusive mode)
        self.stats["timers"] += 1
        self.lags.append(self.now - wait.due_at)
        if self.log_ops:
            self.ops.append(("timer", {"lead": token.lead_id, "token": token.id, "node": wait.node,
                                       "due": wait.due_at, "lag_ms": self.now - wait.due_at}))
        self.spec.resume[wait.node](self, token)
        self.walk(token)

    def revoke_pending(self, token: TokenState) -> None:
        for wait in self.waits_by_token.get(token.id, ()):
            if wait.state == "pending":
                wait.state, wait.dirty = "revoked", True
        for listener in self.listeners_by_token.get(token.id, ()):
            if listener.state == "listening":
                listener.state, listener.dirty = "revoked", True

    def tokens_of(self, lead_id: int) -> list[TokenState]:
        if self._tokens_by_lead is None:
            self._tokens_by_lead = _by_lead(self.tokens.values())
        return self._tokens_by_lead.get(lead_id, [])

    def sends_of_lead(self, lead_id: int) -> list[SendState]:
        if self._sends_by_lead is None:
            self._sends_by_lead = _by_lead(self.sends.values())
        return self._sends_by_lead.get(lead_id, [])

    # -- what handlers call ----------------------------------------------
    def lead(self, lead_id: int) -> LeadState:
        """The lead's key and fields (loaded when a node type reads them)."""
        lead = self.leads.get(lead_id)
        return lead if lead is not None else LeadState(lead_id, str(lead_id), None, {})

    def stop_listening(self, token: TokenState) -> None:
        """The token's listening windows close (its NO wait ended)."""
        for listener in self.listeners_by_token.get(token.id, ()):
            if listener.state == "listening":
                listener.state, listener.dirty = "expired", True

    def revoke_waits(self, token: TokenState) -> None:
        for wait in self.waits_by_token.get(token.id, ()):
            if wait.state == "pending":
                wait.state, wait.dirty = "revoked", True

    def spawn(self, parent: TokenState, node: str) -> TokenState:
        """A new, untracked token of the same lead on ``node`` (a YES trigger)."""
        child = TokenState(self.ctx.ids.take(self.session, "tokens"), parent.lead_id, parent.id, node, "active",
                           False, parent.path, parent.last_send, self.now, new=True)
        self.tokens[child.id] = child
        if self._tokens_by_lead is not None:
            self._tokens_by_lead[child.lead_id].append(child)
        self.new_tokens.append(child)
        return child

    def log_trigger(self, listener: ListenerState, token: TokenState, moved: TokenState) -> None:
        if self.log_ops:
            self.ops.append(("trigger", {"condition": listener.condition, "lead": token.lead_id,
                                         "token": token.id, "new_token": moved.id}))

    def move(self, token: TokenState, port: str) -> None:
        self.edge_counts[(token.node, port)] += 1
        token.node = self.spec.targets[(token.node, port)]
        token.dirty = True

    def hold(self, token: TokenState, due: int) -> None:
        token.state = "waiting"
        wait = WaitState(self.ctx.ids.take(self.session, "waits"), token.id, token.lead_id, token.node,
                         due, "pending", started_at=self.now, new=True)
        self.waits[wait.id] = wait
        self.waits_by_token[token.id].append(wait)
        if due < self.boundary:
            self.schedule(due, WAIT, wait.id, wait)

    def finish(self, token: TokenState) -> None:
        token.state, token.finished_at = "finished", self.now
        if token.tracked:
            self.tracked_changes.append((self.now, -1))

    def fail(self, token: TokenState, reason: str) -> None:
        token.state, token.finished_at, token.dirty = "failed", self.now, True
        self.revoke_pending(token)
        if token.tracked:
            self.tracked_changes.append((self.now, -1))
        self.stats["failures"] += 1
        self.ops.append(("failure", {"lead": token.lead_id, "token": token.id, "node": token.node,
                                     "reason": reason}))

    def make_tracked(self, token: TokenState) -> None:
        if not token.tracked:
            token.tracked = True
            self.tracked_changes.append((self.now, +1))

    def send_of(self, lead_id: int, node: str) -> Optional[SendState]:
        return self.send_index.get((lead_id, node))

    def is_unsubscribed(self, lead_id: int) -> bool:
        return lead_id in self.unsubscribed

    def suppression_of(self, lead_id: int) -> Optional[str]:
        """Why this lead's address gets no email (SEMANTICS 12), or None."""
        return self.suppressed.get(lead_id)

    def delivers_at_once(self) -> bool:
        return self.ctx.instant_delivery

    def awaits_delivery(self, send: SendState) -> bool:
        """Whether the token that made this send still stands on its node, unsettled."""
        token = self.tokens.get(send.token_id)
        return (token is not None and token.state == "waiting" and token.node == send.node
                and token.last_send == send.id)

    def await_delivery(self, token: TokenState, send: SendState) -> None:
        """The token stands on the email node until its send is settled: by the
        outbox's ``delivered`` event, or at its slot in a simulation with a rate."""
        if send.status == "planned":
            self.hold(token, send.planned_at)
        else:
            token.state = "waiting"

    def mark_delivered(self, send: SendState) -> None:
        if send.status == "planned":
            send.status, send.sent_at = "sent", self.now
        send.at = self.now
        if not send.new:
            self.delivered.append(send)

    def _next_slot(self) -> int:
        """Sends leave a simulated provider's queue in order, one per interval."""
        ctx = self.ctx
        if self.slot is None:
            self.slot = ctx.last_slot
            if self.slot is None:
                row = fetch_all(self.session, SELECT_LAST_SLOT, (ctx.campaign_id,))
                self.slot = float(row[0][0]) if row and row[0][0] is not None else float("-inf")
        self.slot = max(float(self.now), self.slot + ctx.send_interval_ms)
        return int(round(self.slot))

    def create_send(self, token: TokenState) -> SendState:
        ctx = self.ctx
        send_id = ctx.ids.take(self.session, "sends")
        if ctx.delivery != "simulated":
            status, sent_at, planned = "queued", None, None
        elif ctx.send_interval_ms is not None:
            status, sent_at, planned = "planned", None, self._next_slot()
        else:
            status, sent_at, planned = "sent", self.now, None
        send = SendState(send_id, token.lead_id, token.id, token.node, self.now,
                         message_id(ctx.campaign_uid, token.id, token.node, ctx.message_domain(token.node)),
                         status, sent_at=sent_at, planned_at=planned, new=True)
        self.sends[send_id] = send
        if self._sends_by_lead is not None:
            self._sends_by_lead[send.lead_id].append(send)
        self.send_index[(send.lead_id, send.node)] = send
        self.stats["sends"] += 1
        if self.log_ops:
            self.ops.append(("send", {"lead": token.lead_id, "token": token.id, "node": token.node,
                                      "send": send_id}))
        return send

    def record_skip(self, token: TokenState, send: Optional[SendState], reason: str) -> None:
        self.stats["skips"] += 1
        self.skips.append((self.ctx.campaign_id, token.lead_id, token.id, token.node,
                           send.id if send is not None else None, self.now, reason))

    def listen(self, token: TokenState, spec, send: SendState, until: int) -> None:
        self._index_listener(ListenerState(self.ctx.ids.take(self.session, "listeners"), token.lead_id,
                                           token.id, token.node, send.id, spec.event, spec.url, spec.mode,
                                           self.now, until, "listening", new=True))

    # -- writing back ----------------------------------------------------
    def flush(self) -> int:
        """Write every change; returns the number of rows written."""
        s, cid = self.session, self.ctx.campaign_id
        new_ids = {t.id for t in self.new_tokens}
        token_rows = [(t.id, cid, t.lead_id, t.parent_id, t.node, t.state, t.tracked, t.path_text(),
                       t.last_send, t.created_at, t.finished_at, 0) for t in self.new_tokens]
        execute_many(s, INSERT_TOKEN, token_rows)
        changed = [(t.node, t.state, t.tracked, t.path_text(), t.last_send, t.finished_at, t.version + 1,
                    t.id, t.version) for t in self.tokens.values() if t.dirty and t.id not in new_ids]
        self._cas(UPDATE_TOKEN, changed, "tokens")
        execute_many(s, FAIL_ENDED_TOKEN, self.ended_then_failed)
        written = len(token_rows) + len(changed)

        sends = self.sends.values()
        new_sends = [(x.id, cid, x.lead_id, x.token_id, x.node, x.at, x.message_id, x.status, 0, x.sent_at,
                      x.planned_at, x.opened_at, x.clicked_at, _urls_text(x.clicked_urls), x.machine_opened_at,
                      x.machine_clicked_at, _urls_text(x.machine_clicked_urls))
                     for x in sends if x.new]
        execute_many(s, INSERT_SEND, new_sends)
        changed_sends = [(x.opened_at, x.clicked_at, _urls_text(x.clicked_urls), x.machine_opened_at,
                          x.machine_clicked_at, _urls_text(x.machine_clicked_urls), x.id)
                         for x in sends if x.dirty and not x.new]
        execute_many(s, UPDATE_SEND_EVENTS, changed_sends)
        delivered = [(x.status, x.at, x.sent_at, x.id) for x in self.delivered]
        execute_many(s, UPDATE_SEND_DELIVERED, delivered)
        if self.slot is not None:
            self.ctx.last_slot = self.slot
        execute_many(s, INSERT_SKIP, self.skips)
        written += len(new_sends) + len(changed_sends) + len(delivered) + len(self.skips)

        waits = self.waits.values()
        new_waits = [(w.id, cid, w.token_id, w.lead_id, w.node, w.due_at, w.state, w.fired_at, w.started_at)
                     for w in waits if w.new]
        execute_many(s, INSERT_WAIT, new_waits)
        changed_waits = [(w.state, w.fired_at, w.id) for w in waits if w.dirty and not w.new]
        self._cas(UPDATE_WAIT, changed_waits, "waits")
        written += len(new_waits) + len(changed_waits)

        new_listeners = [(x.id, cid, x.lead_id, x.token_id, x.condition, x.send_id, x.event, x.url, x.mode,
                          x.since, x.until, x.state, x.triggered_token) for x in self.listeners if x.new]
        execute_many(s, INSERT_LISTENER, new_listeners)
        changed_listeners = [(x.state, x.triggered_token, x.id) for x in self.listeners if x.dirty and not x.new]
        self._cas(UPDATE_LISTENER, changed_listeners, "listeners")
        written += len(new_listeners) + len(changed_listeners)

        # A conversion keeps its first instant; the lead's unsent emails are not sent.
        execute_many(s, CONVERT_LEAD, self.conversions)
        execute_many(s, CANCEL_UNSENT, self.cancelled_leads)
        written += len(self.conversions)

        handled = [(e.state, e.send_id, json.dumps(e.triggered), e.handled_at, e.id) for e in self.events]
        self._cas(UPDATE_EVENT, handled, "events")
        if self.ctx.jobs is not None:
            self.ctx.jobs.after_batch(s, self)
        return written + len(handled)

    def _cas(self, sql: str, rows: list[tuple], what: str) -> None:
        """Compare-and-set for many rows: every one must still be as loaded."""
        hit = execute_many(self.session, sql, rows)
        if hit != len(rows):
            raise ConcurrentTransition(f"{len(rows) - hit} {what} had already moved on")


def _urls_text(urls: tuple[str, ...]) -> str | None:
    return json.dumps(list(urls)) if urls else None


def _by_lead(rows: Iterable[Any]) -> defaultdict[int, list]:
    """Tokens or sends grouped by lead: built on the first question a batch asks (most batches ask
    none), then kept up to date as rows are added."""
    grouped: defaultdict[int, list] = defaultdict(list)
    for row in rows:
        grouped[row.lead_id].append(row)
    return grouped

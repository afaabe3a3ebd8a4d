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
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Iterable, Optional

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from engine.run.handlers import HANDLERS
from engine.run.state import EventState, ListenerState, SendState, TokenState, WaitState
from engine.store.models import Event, Lead, Listener, Send, Skip, Token, Wait

if TYPE_CHECKING:
    from engine.run.context import RunContext
    from engine.run.spec import ConditionSpec

WAIT, EVENT = 0, 1  # rank within one instant: due waits fire before events
CHUNK = 10000

T_TOKENS, T_SENDS, T_WAITS = Token.__table__, Send.__table__, Wait.__table__
T_LISTENERS, T_EVENTS, T_SKIPS = Listener.__table__, Event.__table__, Skip.__table__


class ConcurrentTransition(RuntimeError):
    """A compare-and-set update found a row already moved on: retry the batch."""


def chunks(values: Iterable, size: int = CHUNK) -> Iterable[list]:
    values = list(values)
    for index in range(0, len(values), size):
        yield values[index:index + size]


def message_id(campaign_id: int, token_id: int, node: str, domain: str) -> str:
    """Derived from (token, node): a resend after a crash carries the same id."""
    return f"<t{token_id}.{node}.c{campaign_id}@{domain}>"


class Batch:
    def __init__(self, ctx: "RunContext", session: Session, open_tracked: int,
                 complete_at: Optional[int], boundary: int) -> None:
        self.ctx = ctx
        self.spec = ctx.spec
        self.session = session
        self.open_tracked = open_tracked
        self.complete_at = complete_at
        self.boundary = boundary
        self.now = ctx.clock.now()
        self.tokens: dict[int, TokenState] = {}
        self.new_tokens: list[TokenState] = []
        self.sends: dict[int, SendState] = {}
        self.send_index: dict[tuple[int, str], SendState] = {}
        self.waits: dict[int, WaitState] = {}
        self.waits_by_token: dict[int, list[WaitState]] = defaultdict(list)
        self.listeners_by_send: dict[int, list[ListenerState]] = defaultdict(list)
        self.listeners_by_token: dict[int, list[ListenerState]] = defaultdict(list)
        self.listeners: list[ListenerState] = []
        self.events: list[EventState] = []
        self.skips: list[dict] = []
        self.edge_counts: Counter[tuple[str, str]] = Counter()
        self.unsubscribed: set[int] = set()
        self.heap: list[tuple[int, int, int, object]] = []
        self.processed = 0

    # -- loading ---------------------------------------------------------
    def load(self, lead_ids: set[int]) -> None:
        s = self.session
        for part in chunks(lead_ids):
            for r in s.execute(select(T_TOKENS).where(T_TOKENS.c.lead_id.in_(part),
                                                      T_TOKENS.c.state == "waiting")):
                self.tokens[r.id] = TokenState(r.id, r.lead_id, r.parent_id, r.node, r.state, r.tracked,
                                               r.path or {}, r.last_send, r.created_at, r.finished_at,
                                               r.version)
            for r in s.execute(select(T_SENDS.c.id, T_SENDS.c.lead_id, T_SENDS.c.token_id, T_SENDS.c.node,
                                      T_SENDS.c.at, T_SENDS.c.message_id, T_SENDS.c.status,
                                      T_SENDS.c.opened_at, T_SENDS.c.clicked_at, T_SENDS.c.clicked_urls,
                                      T_SENDS.c.sent_at).where(T_SENDS.c.lead_id.in_(part))):
                send = SendState(r.id, r.lead_id, r.token_id, r.node, r.at, r.message_id, r.status,
                                 r.opened_at, r.clicked_at, list(r.clicked_urls or []), r.sent_at)
                self.sends[send.id] = send
                self.send_index[(send.lead_id, send.node)] = send
            for r in s.execute(select(T_WAITS).where(T_WAITS.c.lead_id.in_(part),
                                                     T_WAITS.c.state == "pending")):
                wait = WaitState(r.id, r.token_id, r.lead_id, r.node, r.due_at, r.state, r.fired_at)
                self.waits[wait.id] = wait
                self.waits_by_token[wait.token_id].append(wait)
            for r in s.execute(select(T_LISTENERS).where(T_LISTENERS.c.lead_id.in_(part),
                                                         T_LISTENERS.c.state == "listening")):
                self._index_listener(ListenerState(r.id, r.lead_id, r.token_id, r.condition, r.send_id,
                                                   r.event, r.url, r.mode, r.since, r.until, r.state,
                                                   r.triggered_token))
            if self.ctx.checks_unsubscribes:
                lead_table = Lead.__table__
                rows = s.execute(select(lead_table.c.id).where(lead_table.c.id.in_(part),
                                                               lead_table.c.unsubscribed_at.is_not(None)))
                self.unsubscribed.update(r.id for r in rows)

    def _index_listener(self, listener: ListenerState) -> None:
        self.listeners.append(listener)
        self.listeners_by_send[listener.send_id].append(listener)
        self.listeners_by_token[listener.token_id].append(listener)

    # -- playing the window ----------------------------------------------
    def schedule(self, key: int, rank: int, seq: int, item: object) -> None:
        heapq.heappush(self.heap, (key, rank, seq, item))

    def play(self) -> None:
        clock = self.ctx.clock
        while self.heap:
            key, rank, _seq, item = heapq.heappop(self.heap)
            clock.reach(key)
            self.now = max(key, clock.now())
            if rank == WAIT:
                self.fire_wait(item)  # type: ignore[arg-type]
            else:
                self.handle_event(item)  # type: ignore[arg-type]
            self.processed += 1
            if self.complete_at is None and self.open_tracked <= 0:
                self.complete_at = self.now

    def walk(self, token: TokenState) -> None:
        token.state = "active"
        token.dirty = True
        types = self.spec.types
        while HANDLERS[types[token.node]](self, token):
            pass

    def fire_wait(self, wait: WaitState) -> None:
        if wait.state != "pending":
            return  # revoked earlier in this window
        wait.state, wait.fired_at, wait.dirty = "fired", self.now, True
        token = self.tokens.get(wait.token_id)
        if token is None or token.state != "waiting" or token.node != wait.node:
            return  # the token moved on (failed, or revoked by exclusive mode)
        for listener in self.listeners_by_token.get(token.id, ()):
            if listener.state == "listening":
                listener.state, listener.dirty = "expired", True
        if self.spec.types[wait.node] == "wait":
            self.move(token, "next")
        self.walk(token)

    def handle_event(self, event: EventState) -> None:
        """SEMANTICS 5: record on its send, trigger every matching listener once."""
        self.events.append(event)
        event.handled_at = self.now
        send = None
        if event.lead_id is not None:
            if event.send_id is not None:
                send = self.sends.get(event.send_id)
            elif event.node is not None:
                send = self.send_index.get((event.lead_id, event.node))
                if send is not None and send.at > event.at:
                    send = None  # the send did not exist yet when the event happened
        if send is None or send.lead_id != event.lead_id:
            event.state = "orphan"
            return
        event.send_id = send.id
        event.state = "handled"
        if send.opened_at is None:
            send.opened_at = event.at
            send.dirty = True
        if event.type == "click":
            if send.clicked_at is None:
                send.clicked_at = event.at
                send.dirty = True
            if event.url and event.url not in send.clicked_urls:
                send.clicked_urls = [*send.clicked_urls, event.url]
                send.dirty = True
        for listener in list(self.listeners_by_send.get(send.id, ())):
            if (listener.state == "listening" and event.at < listener.until
                    and listener.matches(event.type, event.url)):
                self.trigger(listener, event)

    def trigger(self, listener: ListenerState, event: EventState) -> None:
        token = self.tokens.get(listener.token_id)
        listener.state, listener.dirty = "triggered", True
        event.triggered.append(listener.condition)
        if token is None:
            return
        if listener.mode == "exclusive":
            for wait in self.waits_by_token.get(token.id, ()):
                if wait.state == "pending":
                    wait.state, wait.dirty = "revoked", True
            listener.triggered_token = token.id
            token.node = listener.condition
            self.move(token, "yes")
            self.walk(token)
            return
        child = TokenState(self.ctx.ids.take(self.session, "tokens"), token.lead_id, token.id,
                           listener.condition, "active", False, dict(token.path), token.last_send,
                           self.now, new=True)
        self.tokens[child.id] = child
        self.new_tokens.append(child)
        listener.triggered_token = child.id
        self.move(child, "yes")
        self.walk(child)

    # -- what handlers call ----------------------------------------------
    def move(self, token: TokenState, port: str) -> None:
        self.edge_counts[(token.node, port)] += 1
        token.node = self.spec.targets[(token.node, port)]
        token.dirty = True

    def hold(self, token: TokenState, due: int) -> None:
        token.state = "waiting"
        wait = WaitState(self.ctx.ids.take(self.session, "waits"), token.id, token.lead_id, token.node,
                         due, "pending", new=True)
        self.waits[wait.id] = wait
        self.waits_by_token[token.id].append(wait)
        if due < self.boundary:
            self.schedule(due, WAIT, wait.id, wait)

    def finish(self, token: TokenState) -> None:
        token.state, token.finished_at = "finished", self.now
        if token.tracked:
            self.open_tracked -= 1

    def fail(self, token: TokenState, reason: str) -> None:
        token.state, token.finished_at, token.dirty = "failed", self.now, True
        for wait in self.waits_by_token.get(token.id, ()):
            if wait.state == "pending":
                wait.state, wait.dirty = "revoked", True
        for listener in self.listeners_by_token.get(token.id, ()):
            if listener.state == "listening":
                listener.state, listener.dirty = "revoked", True
        if token.tracked:
            self.open_tracked -= 1
        self.ctx.log.warning("token %s failed: %s", token.id, reason)

    def make_tracked(self, token: TokenState) -> None:
        if not token.tracked:
            token.tracked = True
            self.open_tracked += 1

    def send_of(self, lead_id: int, node: str) -> Optional[SendState]:
        return self.send_index.get((lead_id, node))

    def is_unsubscribed(self, lead_id: int) -> bool:
        return lead_id in self.unsubscribed

    def create_send(self, token: TokenState) -> SendState:
        ctx = self.ctx
        send_id = ctx.ids.take(self.session, "sends")
        simulated = ctx.delivery == "simulated"
        send = SendState(send_id, token.lead_id, token.id, token.node, self.now,
                         message_id(ctx.campaign_id, token.id, token.node, ctx.domain),
                         "sent" if simulated else "queued", sent_at=self.now if simulated else None,
                         new=True)
        self.sends[send_id] = send
        self.send_index[(send.lead_id, send.node)] = send
        return send

    def record_skip(self, token: TokenState, send: SendState) -> None:
        self.skips.append({"campaign_id": self.ctx.campaign_id, "lead_id": token.lead_id,
                           "token_id": token.id, "node": token.node, "send_id": send.id, "at": self.now})

    def listen(self, token: TokenState, spec: "ConditionSpec", send: SendState, until: int) -> None:
        self._index_listener(ListenerState(self.ctx.ids.take(self.session, "listeners"), token.lead_id,
                                           token.id, token.node, send.id, spec.event, spec.url, spec.mode,
                                           self.now, until, "listening", new=True))

    @staticmethod
    def already_happened(send: SendState, event: str, url: Optional[str]) -> bool:
        if event == "open":
            return send.opened_at is not None
        if url:
            return url in send.clicked_urls
        return send.clicked_at is not None

    # -- writing back ----------------------------------------------------
    def flush(self) -> int:
        """Write every change; returns the number of rows written."""
        s, cid = self.session, self.ctx.campaign_id
        written = 0
        new_tokens = [t for t in self.new_tokens]
        new_ids = {t.id for t in new_tokens}
        if new_tokens:
            s.execute(insert(T_TOKENS), [{**t.row(), "campaign_id": cid} for t in new_tokens])
        changed = [t for t in self.tokens.values() if t.dirty and t.id not in new_ids]
        if changed:
            stmt = (update(T_TOKENS)
                    .where(T_TOKENS.c.id == bindparam("k_id"), T_TOKENS.c.version == bindparam("k_version"))
                    .values(node=bindparam("v_node"), state=bindparam("v_state"),
                            tracked=bindparam("v_tracked"), path=bindparam("v_path"),
                            last_send=bindparam("v_last_send"), finished_at=bindparam("v_finished_at"),
                            version=bindparam("v_version")))
            rows = [{"k_id": t.id, "k_version": t.version, "v_node": t.node, "v_state": t.state,
                     "v_tracked": t.tracked, "v_path": t.path, "v_last_send": t.last_send,
                     "v_finished_at": t.finished_at, "v_version": t.version + 1} for t in changed]
            self._cas(stmt, rows, "tokens")
        written += len(new_tokens) + len(changed)

        new_sends = [x for x in self.sends.values() if x.new]
        if new_sends:
            s.execute(insert(T_SENDS), [
                {"id": x.id, "campaign_id": cid, "lead_id": x.lead_id, "token_id": x.token_id, "node": x.node,
                 "at": x.at, "message_id": x.message_id, "status": x.status, "attempts": 0,
                 "sent_at": x.sent_at, "opened_at": x.opened_at, "clicked_at": x.clicked_at,
                 "clicked_urls": x.clicked_urls} for x in new_sends])
        changed_sends = [x for x in self.sends.values() if x.dirty and not x.new]
        if changed_sends:
            s.execute(update(T_SENDS).where(T_SENDS.c.id == bindparam("k_id")).values(
                opened_at=bindparam("v_opened"), clicked_at=bindparam("v_clicked"),
                clicked_urls=bindparam("v_urls")),
                [{"k_id": x.id, "v_opened": x.opened_at, "v_clicked": x.clicked_at,
                  "v_urls": x.clicked_urls} for x in changed_sends])
        written += len(new_sends) + len(changed_sends)

        if self.skips:
            s.execute(insert(T_SKIPS), self.skips)
            written += len(self.skips)

        new_waits = [w for w in self.waits.values() if w.new]
        if new_waits:
            s.execute(insert(T_WAITS), [
                {"id": w.id, "campaign_id": cid, "token_id": w.token_id, "lead_id": w.lead_id, "node": w.node,
                 "due_at": w.due_at, "state": w.state, "fired_at": w.fired_at} for w in new_waits])
        changed_waits = [w for w in self.waits.values() if w.dirty and not w.new]
        if changed_waits:
            stmt = (update(T_WAITS)
                    .where(T_WAITS.c.id == bindparam("k_id"), T_WAITS.c.state == "pending")
                    .values(state=bindparam("v_state"), fired_at=bindparam("v_fired")))
            self._cas(stmt, [{"k_id": w.id, "v_state": w.state, "v_fired": w.fired_at}
                             for w in changed_waits], "waits")
        written += len(new_waits) + len(changed_waits)

        new_listeners = [x for x in self.listeners if x.new]
        if new_listeners:
            s.execute(insert(T_LISTENERS), [
                {"id": x.id, "campaign_id": cid, "lead_id": x.lead_id, "token_id": x.token_id,
                 "condition": x.condition, "send_id": x.send_id, "event": x.event, "url": x.url,
                 "mode": x.mode, "since": x.since, "until": x.until, "state": x.state,
                 "triggered_token": x.triggered_token} for x in new_listeners])
        changed_listeners = [x for x in self.listeners if x.dirty and not x.new]
        if changed_listeners:
            stmt = (update(T_LISTENERS)
                    .where(T_LISTENERS.c.id == bindparam("k_id"), T_LISTENERS.c.state == "listening")
                    .values(state=bindparam("v_state"), triggered_token=bindparam("v_token")))
            self._cas(stmt, [{"k_id": x.id, "v_state": x.state, "v_token": x.triggered_token}
                             for x in changed_listeners], "listeners")
        written += len(new_listeners) + len(changed_listeners)

        if self.events:
            stmt = (update(T_EVENTS)
                    .where(T_EVENTS.c.id == bindparam("k_id"), T_EVENTS.c.state == "pending")
                    .values(state=bindparam("v_state"), send_id=bindparam("v_send"),
                            triggered=bindparam("v_triggered"), handled_at=bindparam("v_handled")))
            self._cas(stmt, [{"k_id": e.id, "v_state": e.state, "v_send": e.send_id,
                              "v_triggered": e.triggered, "v_handled": e.handled_at} for e in self.events],
                      "events")
            written += len(self.events)
        return written

    def _cas(self, stmt, rows: list[dict], what: str) -> None:
        result = self.session.execute(stmt, rows)
        if result.rowcount != len(rows):
            raise ConcurrentTransition(f"{len(rows) - result.rowcount} {what} had already moved on")

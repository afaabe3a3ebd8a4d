"""Apply a ``Plan`` to the run's state of some leads, in memory, at one instant.

The one place SEMANTICS 11's rules about leads in flight are written down;
``publish`` runs it on a batch it then writes back, ``impact`` on a batch it
then plays forward without writing. The batch holds the new version's spec.

- A wait whose duration changed keeps its start: it now ends at start + the
  new duration, or at once (``at``) if that has passed. A window whose hours
  changed opens next at the new hours as seen from when the token arrived.
- A listening condition keeps listening until its (possibly re-timed) NO wait
  ends, with the condition's new settings; one whose condition was removed,
  or whose token leaves a removed node, stops.
- A token on a removed node is moved to the node the marketer chose and
  walks on from there, at once; without a choice it finishes. An email it
  stood on that was still queued is not sent.
"""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.nodes.window_times import next_opening
from engine.versions.plan import Plan

if TYPE_CHECKING:
    from engine.run.batch import Batch
    from engine.run.state import ListenerState, SendState, WaitState

UNSENT = ("queued", "planned")


@dataclass
class Applied:
    #: (wait, its due instant before) for every wait that now ends at another time.
    retimed: list[tuple[WaitState, int]] = field(default_factory=list)
    #: Listeners that go on listening with another end or other settings.
    listeners: list[ListenerState] = field(default_factory=list)
    #: Condition -> listeners that stop (their condition or their token's node was removed).
    stopped_listening: Counter[str] = field(default_factory=Counter)
    #: (removed node, where its tokens went: a node id or "finish") -> tokens.
    moved: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Queued sends of removed emails that will not go out.
    cancelled: list[SendState] = field(default_factory=list)


@contextlib.contextmanager
def bulk_objects() -> Iterator[None]:
    """No cyclic garbage collection while a few hundred thousand run rows are made:
    they hold no cycles, and a full collection every few thousand of them would
    cost more than the work itself."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def apply_plan(batch: Batch, plan: Plan, at: int, walk: bool = True) -> Applied:
    """``walk=False`` (the preview's count): tokens on removed nodes are counted
    and stop where they are, not walked on."""
    done = Applied()
    batch.now = at
    removed, retimed = set(plan.removed), set(plan.retimed)
    if retimed:
        for wait in list(batch.waits.values()):
            if wait.state == "pending" and wait.node in retimed:
                _retime(batch, plan, wait, at, done)
    conditions = set(plan.conditions)
    for listener in list(batch.listeners):
        if listener.state != "listening":
            continue
        # A token not loaded stands on no removed node (those leads are loaded whole).
        token = batch.tokens.get(listener.token_id)
        if listener.condition in removed or (token is not None and token.node in removed):
            listener.state, listener.dirty = "revoked", True
            done.stopped_listening[listener.condition] += 1
        elif listener.condition in conditions:
            _follow(batch, plan, listener, done)
    if removed:
        for token in list(batch.tokens.values()):
            if token.state != "waiting" or token.node not in removed:
                continue
            send = batch.sends.get(token.last_send) if token.last_send is not None else None
            if send is not None and send.node == token.node and send.status in UNSENT:
                send.status = "cancelled"
                done.cancelled.append(send)
            batch.revoke_pending(token)
            token.dirty = True
            target = plan.target(token.node)
            done.moved[(token.node, target or "finish")] += 1
            if target is None:
                batch.finish(token)
            elif walk:
                token.node = target
                batch.walk(token)
    return done


def _retime(batch: Batch, plan: Plan, wait: WaitState, at: int, done: Applied) -> None:
    before = plan.old_spec.compiled[wait.node]
    after = plan.new_spec.compiled[wait.node]
    if isinstance(after, int):  # a wait: its compiled form is its duration in ms
        start = wait.started_at if wait.started_at is not None else wait.due_at - int(before)
        due = start + after
    else:  # a window: it opens next at the new hours, seen from when the token arrived
        start = wait.started_at if wait.started_at is not None else at
        tz = after.zone_of(batch.lead(wait.lead_id)) if after.zone_field else after.zone
        due = next_opening(start, after.days, after.start, after.end, tz)
    due = max(due, at)
    if due != wait.due_at:
        done.retimed.append((wait, wait.due_at))
        wait.due_at = due
    wait.started_at = start


def _follow(batch: Batch, plan: Plan, listener: ListenerState, done: Applied) -> None:
    """The listener listens with the condition's new settings until its NO wait ends."""
    spec = plan.new_spec.compiled[listener.condition]
    old = plan.old_spec.compiled[listener.condition]
    until = listener.until
    for wait in batch.waits_by_token.get(listener.token_id, ()):
        if wait.state == "pending" and wait.node == old.timeout_node:
            until = wait.due_at
    changed = (until, spec.event, spec.url, spec.mode) != (listener.until, listener.event, listener.url,
                                                          listener.mode)
    if changed:
        listener.until, listener.event, listener.url, listener.mode = until, spec.event, spec.url, spec.mode
        done.listeners.append(listener)

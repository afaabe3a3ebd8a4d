"""One small handler per node type (after SpiffWorkflow's task specs).

A handler takes the batch (the run's working state at this instant) and a
token standing on a node of its type, does that node's work, and says
whether the token walks on (``True``: it has been moved to the next node) or
stops here (``False``: it waits, finished or failed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.run.batch import Batch
    from engine.run.state import TokenState

Handler = Callable[["Batch", "TokenState"], bool]


def handle_start(batch: Batch, token: TokenState) -> bool:
    batch.move(token, "next")
    return True


def handle_email(batch: Batch, token: TokenState) -> bool:
    """Send once per lead and node; a token arriving again records a skip and
    watches the earlier send from here on (SEMANTICS 4). A suppressed address
    gets nothing: the token skips with the reason (SEMANTICS 12). Otherwise
    the token stands here until its send is settled (SEMANTICS 9)."""
    if batch.is_unsubscribed(token.lead_id):
        batch.finish(token)
        return False
    reason = batch.suppression_of(token.lead_id)
    if reason is not None:
        batch.record_skip(token, None, reason)
        token.last_send = None  # nothing was sent: a condition after it has nothing to see
        batch.move(token, "next")
        return True
    send = batch.send_of(token.lead_id, token.node)
    if send is not None:
        batch.record_skip(token, send, "already-sent")
        token.path = {**token.path, token.node: send.id}
        token.last_send = send.id
        batch.move(token, "next")
        return True
    send = batch.create_send(token)
    token.path = {**token.path, token.node: send.id}
    token.last_send = send.id
    if batch.delivers_at_once():
        batch.move(token, "next")
        return True
    batch.await_delivery(token, send)
    return False


def resume_email(batch: Batch, token: TokenState) -> None:
    """The token's send was settled: it walks on from the delivered instant."""
    send = batch.sends.get(token.last_send) if token.last_send is not None else None
    if send is not None:
        batch.mark_delivered(send)
    batch.move(token, "next")


def handle_condition(batch: Batch, token: TokenState) -> bool:
    """YES at once if the watched event already happened; otherwise NO at
    once, listening until the NO path's first wait ends (SEMANTICS 4)."""
    spec = batch.spec.conditions[token.node]
    send_id = token.path.get(spec.email) if spec.email else token.last_send
    send = batch.sends.get(send_id) if send_id is not None else None
    wait_node = batch.spec.target(token.node, "no")
    if send is None:
        # The watched email was never sent (the address is suppressed): its
        # event cannot happen, so the token takes the NO path without listening.
        batch.make_tracked(token)
        batch.move(token, "no")
        return True
    if batch.already_happened(send, spec.event, spec.url):
        batch.move(token, "yes")
        return True
    until = batch.now + batch.spec.durations[wait_node]
    batch.listen(token, spec, send, until)
    batch.make_tracked(token)
    batch.move(token, "no")
    return True


def handle_wait(batch: Batch, token: TokenState) -> bool:
    batch.hold(token, batch.now + batch.spec.durations[token.node])
    return False


def resume_wait(batch: Batch, token: TokenState) -> None:
    batch.move(token, "next")


def handle_end(batch: Batch, token: TokenState) -> bool:
    batch.finish(token)
    return False


HANDLERS: dict[str, Handler] = {
    "start": handle_start,
    "email": handle_email,
    "condition": handle_condition,
    "wait": handle_wait,
    "end": handle_end,
}

#: What happens when a hold on a node of this type ends (its wait row fired,
#: or its send was settled) before the token walks on. Start needs none: its
#: handler moves the token.
Resume = Callable[["Batch", "TokenState"], None]

RESUME: dict[str, Resume] = {
    "email": resume_email,
    "wait": resume_wait,
}

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
    watches the earlier send from here on (SEMANTICS 4)."""
    if batch.is_unsubscribed(token.lead_id):
        batch.finish(token)
        return False
    send = batch.send_of(token.lead_id, token.node)
    if send is None:
        send = batch.create_send(token)
    else:
        batch.record_skip(token, send)
    token.path = {**token.path, token.node: send.id}
    token.last_send = send.id
    batch.move(token, "next")
    return True


def handle_condition(batch: Batch, token: TokenState) -> bool:
    """YES at once if the watched event already happened; otherwise NO at
    once, listening until the NO path's first wait ends (SEMANTICS 4)."""
    spec = batch.spec.conditions[token.node]
    send_id = token.path.get(spec.email) if spec.email else token.last_send
    send = batch.sends.get(send_id) if send_id is not None else None
    if send is None:
        # Validation forbids this; a hand-edited database is the only way here.
        batch.fail(token, f"condition {token.node} has no send to watch")
        return False
    if batch.already_happened(send, spec.event, spec.url):
        batch.move(token, "yes")
        return True
    wait_node = batch.spec.target(token.node, "no")
    until = batch.now + batch.spec.durations[wait_node]
    batch.listen(token, spec, send, until)
    batch.make_tracked(token)
    batch.move(token, "no")
    return True


def handle_wait(batch: Batch, token: TokenState) -> bool:
    batch.hold(token, batch.now + batch.spec.durations[token.node])
    return False


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

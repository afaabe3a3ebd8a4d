"""Recording a settled send: its row and the event that moves its token on.

SEMANTICS 9: a token stands on its email node until the send is settled. The
outbox (or the built-in sandbox, which accepts and records in one transaction)
marks the row and, in the same transaction, writes one ``delivered`` (or
``send_skipped``) event for the engine to play in time order. The event is
written only by the statement that wins the row's compare-and-set, so a send
settled twice (the sandbox and then the outbox, or a journal replayed after a
crash) still moves its token once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, literal, null, select
from sqlalchemy.orm import Session

from engine.store.bulk import execute_many
from engine.store.models import Event, Send
from engine.store.statements import PARAM, expand, in_params, sql

#: (type, at, send id, *unsettled states): one event per send still in one of those states.
_EVENT_FOR_SEND = sql(insert(Event).from_select(
    [Event.campaign_id, Event.lead_id, Event.lead_key, Event.type, Event.node, Event.send_id, Event.url, Event.at,
     Event.source, Event.state, Event.triggered],
    select(Send.campaign_id, Send.lead_id, null(), PARAM, Send.node, Send.id, null(), PARAM, literal("outbox"),
           literal("pending"), literal("[]")).where(Send.id == PARAM, in_params(Send.status)),
    include_defaults=False))


def settle_events(session: Session, kind: str, rows: Sequence[tuple[int, int]],
                  unsettled: tuple[str, ...] = ("sending",)) -> int:
    """Write a ``kind`` event (``delivered`` or ``send_skipped``) for each
    ``(at, send_id)`` whose send is still unsettled; call it *before* the
    UPDATE that settles those rows, in the same transaction."""
    return execute_many(session, expand(_EVENT_FOR_SEND, len(unsettled)),
                        [(kind, at, send_id, *unsettled) for at, send_id in rows])

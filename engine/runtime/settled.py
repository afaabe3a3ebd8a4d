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

from sqlalchemy.orm import Session

from engine.store.bulk import execute_many

#: (type, at, send id): one event per send still in one of the unsettled states.
_EVENT_FOR_SEND = ("INSERT INTO events (campaign_id, lead_id, lead_key, type, node, send_id, url, at, source,"
                   " state, triggered) SELECT campaign_id, lead_id, NULL, ?, node, id, NULL, ?, 'outbox',"
                   " 'pending', '[]' FROM sends WHERE id = ? AND status IN ({states})")


def settle_events(session: Session, kind: str, rows: Sequence[tuple[int, int]],
                  unsettled: tuple[str, ...] = ("sending",)) -> int:
    """Write a ``kind`` event (``delivered`` or ``send_skipped``) for each
    ``(at, send_id)`` whose send is still unsettled; call it *before* the
    UPDATE that settles those rows, in the same transaction."""
    states = ", ".join(f"'{state}'" for state in unsettled)
    return execute_many(session, _EVENT_FOR_SEND.format(states=states),
                        [(kind, at, send_id) for at, send_id in rows])

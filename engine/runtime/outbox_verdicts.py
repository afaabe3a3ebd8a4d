"""What the outbox writes for a pass's outcomes, sorted row by row, and its log lines.

A pure step between sending and the one transaction that records a pass
(``Outbox._settle``): each message's outcome becomes the row of the
statement it needs (sent, cancelled, paced, requeued, failed), and, for
campaigns on the wall clock, the event its waiting token moves on
(SEMANTICS 9).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from engine.delivery.pacing import PacedOutcome
from engine.delivery.smtp import SendOutcome
from engine.observe.logs import OPS, op
from engine.runtime.policy import DeliveryPolicy


@dataclass
class Settlement:
    sent: list[tuple] = field(default_factory=list)
    requeue: list[tuple] = field(default_factory=list)
    failed: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    cancelled: list[tuple] = field(default_factory=list)
    paced: list[tuple] = field(default_factory=list)
    #: (campaign, lead) whose tokens the settled events move.
    moves_tokens: list[tuple[int, int]] = field(default_factory=list)
    delivered: list[tuple[int, int]] = field(default_factory=list)
    skipped: list[tuple[int, int]] = field(default_factory=list)


def sort_outcomes(results: list[tuple[Any, Optional[SendOutcome]]], now: int, policy: DeliveryPolicy,
                  campaign_time: Optional[Callable[[int], Optional[int]]], accepted_at: dict[int, int],
                  final_reason: Callable[[Any, SendOutcome], Optional[str]]) -> Settlement:
    """``results``: (claimed message, outcome or None when it was not sent after all)."""
    rows = Settlement()
    for item, outcome in results:
        # A simulation on the app's campaign clock delivered at once in campaign time.
        campaign_now = campaign_time(item.campaign_id) if campaign_time else None
        if outcome is None:
            rows.cancelled.append((now, item.send_id))
            if campaign_now is None:
                rows.skipped.append((now, item.send_id))
                rows.moves_tokens.append((item.campaign_id, item.lead_id))
        elif outcome.ok:
            at = accepted_at.pop(item.send_id, now)  # when its 250 arrived
            rows.sent.append((at, item.send_id))
            if campaign_now is None:
                rows.delivered.append((at, item.send_id))
                rows.moves_tokens.append((item.campaign_id, item.lead_id))
        elif isinstance(outcome, PacedOutcome):
            rows.paced.append((outcome.until_ms, outcome.error, item.send_id))  # its lane is full: later
        elif outcome.scope in ("server", "session") and not outcome.permanent:
            # Not the message's fault (server away, or refusing us): back as it was, no try spent.
            rows.requeue.append((item.attempts, None, outcome.error, item.send_id))
        elif outcome.permanent or policy.gives_up(item.attempts + 1, item.queued_at, now):
            rows.failed.append((item.attempts + 1, now, final_reason(item, outcome), item.send_id))
            rows.events.append((item.campaign_id, item.lead_id, None, "send_failed", item.node, item.send_id,
                                None, now if campaign_now is None else campaign_now, "outbox", "pending", "[]"))
        else:
            rows.requeue.append((item.attempts + 1, policy.next_try(item.attempts + 1, item.queued_at, now),
                                 outcome.error, item.send_id))
    return rows


def log_settlement(results: list[tuple[Any, Optional[SendOutcome]]], rows: Settlement) -> None:
    """One line per delivery and retry (at INFO), and per failure (always)."""
    by_id = {item.send_id: item for item, _outcome in results}
    if OPS.isEnabledFor(logging.INFO):
        for _at, send_id in rows.sent:
            item = by_id[send_id]
            op("delivered", campaign=item.campaign_id, lead=item.lead_id, token=item.token_id, node=item.node,
               send=send_id)
        for attempts, _when, error, send_id in rows.requeue:
            item = by_id[send_id]
            op("retry", campaign=item.campaign_id, lead=item.lead_id, token=item.token_id, node=item.node,
               send=send_id, attempt=attempts, reason=error)
    for attempts, _at, error, send_id in rows.failed:
        item = by_id[send_id]
        op("failure", campaign=item.campaign_id, lead=item.lead_id, token=item.token_id, node=item.node,
           send=send_id, attempt=attempts, reason=error)

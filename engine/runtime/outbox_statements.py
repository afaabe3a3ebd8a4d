"""The outbox's statements on ``sends``, generated from the typed table.

Every settlement is a compare-and-set on ``sending``: the outbox, the
in-process sandbox and a replayed journal may all settle one send, and only
the first statement changes it (``settled.py`` writes the event the same
way). Parameters are each statement's ``?`` marks in reading order.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy import update as core_update

from engine.store.models import Campaign, Send
from engine.store.statements import PARAM, in_params, sql, update

_SENDING = Send.status == "sending"

#: (now): sends whose worker died mid-send, their lease run out, go back to the queue.
EXPIRED_LEASES = update((Send.status, "queued"), (Send.claimed_until, None),
                        where=(_SENDING, Send.claimed_until < PARAM))
#: (lease end, *send ids; ``expand`` for their number): one compare-and-set for a claimed
#: group; RETURNING says which rows this worker won.
CLAIM = sql(core_update(Send).ordered_values((Send.status, "sending"), (Send.claimed_until, PARAM))
            .where(in_params(Send.id), Send.status == "queued").returning(Send.id))
#: (send id): handed back unsent.
RELEASE = update((Send.status, "queued"), (Send.claimed_until, None), where=(Send.id == PARAM, _SENDING))
#: (sent at, send id)
SENT = update((Send.status, "sent"), Send.sent_at, (Send.claimed_until, None), (Send.error, None),
              where=(Send.id == PARAM, _SENDING))
#: (at, send id): the lead unsubscribed meanwhile; nothing went out.
CANCELLED = update((Send.status, "cancelled"), Send.sent_at, (Send.claimed_until, None),
                   where=(Send.id == PARAM, _SENDING))
#: (attempts, next try, error, send id)
REQUEUED = update((Send.status, "queued"), Send.attempts, Send.next_attempt_at, Send.error, (Send.claimed_until, None),
                  where=(Send.id == PARAM, _SENDING))
#: (attempts, at, error, send id): failed for good.
FAILED = update((Send.status, "failed"), Send.attempts, Send.sent_at, Send.error, (Send.claimed_until, None),
                where=(Send.id == PARAM, _SENDING))
#: Sends still to go out, in every campaign.
#: A message its provider's lane could not take soon: back in the queue until it may go, no try spent.
PACED = update((Send.status, "queued"), Send.next_attempt_at, Send.error, (Send.claimed_until, None),
               where=(Send.id == PARAM, _SENDING))
UNSETTLED = sql(select(func.count()).select_from(Send).where(Send.status.in_(("queued", "sending"))))
#: (campaign id): the flow its emails are rendered from.
FLOW_JSON = sql(select(Campaign.flow_json).where(Campaign.id == PARAM))

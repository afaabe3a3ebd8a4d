"""Leads that a play with no events treats alike, so the preview plays one of each.

With no opens or clicks from now on, what a lead is sent depends only on
where its tokens stand, which emails it already has and what became of
them (opened, clicked which links), whether its address may be emailed, and
- where a node reads the lead (a split, a check, a window) - on the lead
itself. Waits only move when emails go, never which. So 100,000 leads that
got the first email and wait on the same node are one play, not 100,000.

Read with a few campaign-wide queries of only those columns.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.bulk import fetch_all
from engine.store.models import Lead, Send, Suppression, Token
from engine.store.statements import PARAM, sql

_TOKENS = sql(select(Token.lead_id, Token.node, Token.tracked, Token.last_send, Token.path)
              .where(Token.campaign_id == PARAM, Token.state == "waiting"))
_SENDS = sql(select(Send.id, Send.lead_id, Send.node, Send.status, Send.opened_at.is_not(None),
                    Send.clicked_at.is_not(None), Send.clicked_urls, Send.machine_opened_at.is_not(None),
                    Send.machine_clicked_at.is_not(None), Send.machine_clicked_urls)
             .where(Send.campaign_id == PARAM))
_UNSUBSCRIBED = sql(select(Lead.id).where(Lead.campaign_id == PARAM, Lead.unsubscribed_at.is_not(None)))
_SUPPRESSED = sql(select(Lead.id, Suppression.reason)
                  .join_from(Lead, Suppression, Suppression.email == func.lower(Lead.email))
                  .where(Lead.campaign_id == PARAM))


def alike(s: Session, campaign_id: int, leads: Iterable[int], reads_lead: bool) -> dict[int, list[int]]:
    """One lead of each kind -> every lead of that kind (itself included)."""
    wanted = set(leads)
    if reads_lead:
        return {lead: [lead] for lead in sorted(wanted)}
    send_nodes: dict[int, str] = {}
    sends: dict[int, list[tuple]] = defaultdict(list)
    for r in fetch_all(s, _SENDS, (campaign_id,)):
        send_nodes[r[0]] = r[2]
        if r[1] in wanted:
            sends[r[1]].append((r[2], r[3], bool(r[4]), bool(r[5]), r[6], bool(r[7]), bool(r[8]), r[9]))
    tokens: dict[int, list[tuple]] = defaultdict(list)
    paths: dict[str, tuple] = {}  # most leads share a few paths: each text is read once
    for lead, node, tracked, last_send, path in fetch_all(s, _TOKENS, (campaign_id,)):
        if lead in wanted:
            steps = paths.get(path) if path else ()
            if steps is None:
                steps = paths[path] = tuple(sorted(json.loads(path)))
            tokens[lead].append((node, bool(tracked), send_nodes.get(last_send, ""), steps))
    unsubscribed = {r[0] for r in fetch_all(s, _UNSUBSCRIBED, (campaign_id,))}
    suppressed = dict(fetch_all(s, _SUPPRESSED, (campaign_id,)))
    kinds: dict[tuple, list[int]] = {}
    for lead in sorted(wanted):
        key = (_sorted(tokens.get(lead, ())), _sorted(sends.get(lead, ())), lead in unsubscribed,
               suppressed.get(lead))
        kinds.setdefault(key, []).append(lead)
    return {members[0]: members for members in kinds.values()}


def _sorted(rows: list[tuple]) -> tuple:
    """A lead's rows in an order that does not depend on how they were read."""
    return tuple(rows) if len(rows) < 2 else tuple(sorted(rows, key=repr))

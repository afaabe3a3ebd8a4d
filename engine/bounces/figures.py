"""Bounces and complaints in figures: per email node, and what the bounce mailbox did.

``mailbranch status`` and the control API show these beside the sends: a
hard bounce counts once in ``bounced`` whether its send then failed (its
token was still on the email) or stays ``sent`` (its token had moved on).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.models import MailboxReport, Send


@dataclass
class BounceFigures:
    #: Sends returned for good (the address suppressed).
    bounced: int = 0
    #: Sends returned at least once for a reason that may pass (mailbox full, policy).
    soft_bounced: int = 0
    #: Sends the recipient reported as spam (the address suppressed).
    complained: int = 0

    def as_json(self) -> dict[str, int]:
        return asdict(self)


def bounce_figures(session: Session, campaign_id: int) -> dict[str, BounceFigures]:
    """Email node -> its bounce figures (nodes with none are left out)."""
    rows = session.execute(
        select(Send.node, func.count(Send.bounced_at), func.count(Send.soft_bounces), func.count(Send.complained_at))
        .where(Send.campaign_id == campaign_id,
               (Send.bounced_at.is_not(None)) | (Send.soft_bounces.is_not(None)) | (Send.complained_at.is_not(None)))
        .group_by(Send.node)).all()
    return {node: BounceFigures(int(b), int(s), int(c)) for node, b, s, c in rows}


def campaign_bounces(session: Session, campaign_id: int) -> BounceFigures:
    total = BounceFigures()
    for figures in bounce_figures(session, campaign_id).values():
        total.bounced += figures.bounced
        total.soft_bounced += figures.soft_bounced
        total.complained += figures.complained
    return total


def mailbox_outcomes(session: Session) -> dict[str, Any]:
    """What the messages read from the bounce mailbox did, by outcome, and the latest few."""
    counts = dict(session.execute(select(MailboxReport.outcome, func.count()).group_by(MailboxReport.outcome)).all())
    latest = session.execute(select(MailboxReport).order_by(MailboxReport.at.desc()).limit(5)).scalars()
    return {"outcomes": {k: int(v) for k, v in counts.items()},
            "latest": [{"at": r.at, "kind": r.kind, "outcome": r.outcome, "email": r.email, "detail": r.detail}
                       for r in latest]}

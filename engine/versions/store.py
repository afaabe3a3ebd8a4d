"""Reading a campaign's versions: the list, one version's flow."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import select

from engine.store.database import Database
from engine.store.models import Campaign, CampaignVersion


@dataclass
class VersionInfo:
    number: int
    published_at: int
    note: Optional[str]
    changes: Optional[dict[str, Any]]
    running: bool
    flow_json: str = ""

    def did(self) -> str:
        """One line: what publishing this version did to the leads in flight."""
        c = self.changes
        if not c:
            return "first version" if self.number == 1 else ""
        parts = []
        for m in c.get("moved", ()):
            parts.append(f"{m['tokens']} tokens from {m['from']} to {m['to']}")
        if c.get("retimed_waits"):
            parts.append(f"{c['retimed_waits']} waits re-timed")
        for key, word in (("removed", "removed"), ("added", "added"), ("changed", "changed"),
                          ("content", "new content"), ("retimed_nodes", "new timing")):
            if c.get(key):
                parts.append(f"{word}: {', '.join(c[key])}")
        if c.get("emails_not_sent"):
            parts.append(f"{c['emails_not_sent']} queued emails not sent")
        return "; ".join(parts) or "no change to the leads in flight"

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "published_at": self.published_at, "note": self.note,
                "changes": self.changes, "running": self.running}


def versions(db: Database, campaign_id: int) -> list[VersionInfo]:
    """Every version, oldest first (a campaign made before versions existed shows its flow as version 1)."""
    with db.session() as s:
        campaign = s.get(Campaign, campaign_id)
        if campaign is None:
            raise LookupError(f"there is no campaign {campaign_id} in this database")
        rows = s.execute(select(CampaignVersion).where(CampaignVersion.campaign_id == campaign_id)
                         .order_by(CampaignVersion.number)).scalars().all()
        found = [VersionInfo(r.number, r.published_at, r.note, json.loads(r.changes) if r.changes else None,
                             r.number == campaign.version, r.flow_json) for r in rows]
        if not found:
            found = [VersionInfo(campaign.version, campaign.started_at, None, None, True, campaign.flow_json)]
    return found


def version(db: Database, campaign_id: int, number: int) -> Optional[VersionInfo]:
    return next((v for v in versions(db, campaign_id) if v.number == number), None)


def running_versions(session, campaign_ids) -> dict[int, int]:
    """The version each campaign runs now (the outbox renders from it)."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    return dict(session.execute(select(Campaign.id, Campaign.version).where(Campaign.id.in_(ids))).all())


def flow_with_email(session, campaign_id: int, node: str) -> Optional[str]:
    """The newest version's flow that has email ``node``: for a send made before a
    later version removed its email, which goes out as it was made (SEMANTICS 11)."""
    for flow_json in session.execute(select(CampaignVersion.flow_json)
                                     .where(CampaignVersion.campaign_id == campaign_id)
                                     .order_by(CampaignVersion.number.desc())).scalars():
        if f'"id":"{node}"' in flow_json.replace(" ", "") or f'"id": "{node}"' in flow_json:
            return flow_json
    return None


def version_at(session, campaign_id: int) -> Callable[[Optional[int]], int]:
    """A function: instant (or None: now) -> the number of the version the campaign ran then.

    A lead still in flight is on the running version (publishing moves every token
    at once); a lead that finished is on the version it finished under."""
    import bisect

    campaign = session.get(Campaign, campaign_id)
    rows = session.execute(select(CampaignVersion.published_at, CampaignVersion.number)
                           .where(CampaignVersion.campaign_id == campaign_id)
                           .order_by(CampaignVersion.number)).all()
    instants = [r[0] for r in rows]
    numbers = [r[1] for r in rows]
    running = campaign.version if campaign is not None else 1

    def at(instant: Optional[int]) -> int:
        if instant is None or not rows:
            return running
        index = bisect.bisect_right(instants, instant) - 1
        return numbers[index] if index >= 0 else numbers[0]

    return at

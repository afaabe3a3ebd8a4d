"""A campaign's results over time and as CSV: the app's chart and its Export button."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.leads.csv_safe import safe_writer
from engine.run.report import campaign_figures
from engine.store.models import Campaign, Lead, Send


def series(s: Session, campaign_id: int, buckets: int = 48) -> dict[str, Any]:
    """Sends, opens and clicks over campaign time, in equal buckets."""
    c = s.get(Campaign, campaign_id)
    sends = [r[0] for r in s.execute(select(Send.at).where(Send.campaign_id == campaign_id))]
    opens = [r[0] for r in s.execute(select(Send.opened_at).where(
        Send.campaign_id == campaign_id, Send.opened_at.is_not(None)))]
    clicks = [r[0] for r in s.execute(select(Send.clicked_at).where(
        Send.campaign_id == campaign_id, Send.clicked_at.is_not(None)))]
    start = c.started_at
    end = max([start + 1, *sends, *opens, *clicks])
    width = max(1, (end - start) // buckets + 1)

    def count(values: list[int]) -> list[int]:
        out = [0] * buckets
        for v in values:
            out[min(buckets - 1, max(0, (v - start) // width))] += 1
        return out

    return {"start": start, "bucket_ms": width, "sends": count(sends), "opens": count(opens),
            "clicks": count(clicks)}


def export_csv(s: Session, campaign_id: int, per: str = "lead") -> str:
    """The run's results as CSV: one row per lead and email, or per node."""
    buffer = io.StringIO()
    writer = safe_writer(buffer)  # lead values must not run as spreadsheet formulas
    if per == "node":
        figures = campaign_figures(s, campaign_id)
        writer.writerow(["node", "type", "waiting", "passed", "sent", "opened", "clicked", "failed",
                         "yes", "no", "ended", "open_rate", "click_rate"])
        for n in figures.nodes.values():
            writer.writerow([n.node, n.type, n.waiting, n.passed, n.sent, n.opened, n.clicked,
                             n.failed + n.send_failed, n.yes, n.no, n.finished,
                             "" if n.open_rate is None else f"{n.open_rate:.4f}",
                             "" if n.click_rate is None else f"{n.click_rate:.4f}"])
    else:
        writer.writerow(["lead", "email", "node", "sent_at", "status", "opened_at", "clicked_at",
                         "unsubscribed"])
        rows = s.execute(select(Lead.key, Lead.email, Send.node, Send.at, Send.status, Send.opened_at,
                                Send.clicked_at, Lead.unsubscribed_at)
                         .join(Send, Send.lead_id == Lead.id, isouter=True)
                         .where(Lead.campaign_id == campaign_id).order_by(Lead.id, Send.at))
        for key, email, node, at, status, opened, clicked, unsub in rows:
            writer.writerow([key, email, node or "", _iso(at), status or "", _iso(opened), _iso(clicked),
                             "yes" if unsub else ""])
    return buffer.getvalue()


def _iso(ms: Optional[int]) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")

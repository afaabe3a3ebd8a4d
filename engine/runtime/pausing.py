"""Pausing and stopping a campaign that sends for real.

Pausing holds the outbox, not the campaign: while a campaign is paused the
outbox claims none of its queued sends (a send already on the wire finishes
and is recorded), but its timers keep their times. A wait that ends while
paused fires on time and its token moves on to the next email, where it
stands in the queue (SEMANTICS 9: a token waits on its email until the send
is settled). Resuming lets the outbox send what fell due, oldest first.

The flag lives in the campaign's ``settings`` (``paused``, ``paused_at``),
so it survives an engine restart and any process that runs the outbox
(the app's engine, ``mailbranch run``, a scale-out worker) sees a pause set
by another one (``mailbranch pause``).

Stopping is for good: the campaign's state becomes ``stopped``, its queued
sends are cancelled, its waiting tokens end as ``stopped``, its timers and
listeners are revoked, and nothing of it is played or sent again.
"""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.store.models import Campaign, Listener, Send, Token, Wait


class CampaignStateError(ValueError):
    """A pause, resume or stop that cannot be done; the message is for the user."""


def paused_campaigns(session: Session) -> list[int]:
    """Campaigns not stopped whose outbox is held by a pause.

    A paused simulation is not held: its clock stops instead, and what it
    sends meanwhile (a simulated click's YES path) happens at that instant
    of campaign time, so it goes to the sandbox at once.
    """
    rows = session.execute(select(Campaign.id, Campaign.settings).where(Campaign.state != "stopped")).all()
    return [cid for cid, settings in rows if (settings or {}).get("paused") and not (settings or {}).get("simulated")]


def is_paused(settings: Optional[dict[str, Any]]) -> bool:
    return bool((settings or {}).get("paused"))


def set_paused(session: Session, campaign_id: int, paused: bool, at: int) -> bool:
    """Pause or resume in the caller's transaction; True when it changed something.

    A stopped campaign cannot be paused or resumed: nothing of it is sent
    again. A complete one can (paths the campaign does not wait for may
    still send).
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignStateError(f"there is no campaign {campaign_id}")
    if campaign.state == "stopped":
        raise CampaignStateError(f"campaign {campaign_id} was stopped; a stopped campaign cannot be "
                                 + ("paused" if paused else "resumed"))
    settings = dict(campaign.settings or {})
    if bool(settings.get("paused")) == paused:
        return False
    settings["paused"] = paused
    if paused:
        settings["paused_at"] = at
    else:
        settings.pop("paused_at", None)
    session.execute(update(Campaign).where(Campaign.id == campaign_id).values(settings=settings))
    return True


def stop(session: Session, campaign_id: int, at: int) -> None:
    """Stop for good, in the caller's transaction: nothing more is sent, played or waited for."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignStateError(f"there is no campaign {campaign_id}")
    if campaign.state == "stopped":
        return
    settings = dict(campaign.settings or {})
    settings.pop("paused", None)
    settings.pop("paused_at", None)
    settings["stopped_at"] = at
    session.execute(update(Campaign).where(Campaign.id == campaign_id).values(state="stopped", settings=settings))
    # A send on the wire right now ('sending') finishes and is recorded; the queue is emptied.
    session.execute(update(Send).where(Send.campaign_id == campaign_id, Send.status == "queued")
                    .values(status="cancelled", error="the campaign was stopped", claimed_until=None))
    session.execute(update(Token).where(Token.campaign_id == campaign_id, Token.state == "waiting")
                    .values(state="stopped", finished_at=at, version=Token.version + 1))
    session.execute(update(Wait).where(Wait.campaign_id == campaign_id, Wait.state == "pending")
                    .values(state="revoked"))
    session.execute(update(Listener).where(Listener.campaign_id == campaign_id, Listener.state == "listening")
                    .values(state="revoked"))


def campaign_state(settings: Optional[dict[str, Any]], state: str) -> dict[str, Any]:
    """What the app and ``status`` show: paused (and since when), stopped at."""
    settings = settings or {}
    held = bool(settings.get("paused")) and state != "stopped"
    return {"paused": held, "paused_at": settings.get("paused_at") if held else None,
            "stopped_at": settings.get("stopped_at")}

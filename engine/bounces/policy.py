"""What a bounce, a complaint or an unsubscribe email does to the campaign.

- **Hard bounce** (the address does not exist): the address goes on the
  suppression list (reason ``bounce``) and the send records the bounce. If
  the send's token still stands on its email node (SEMANTICS 9: the 250 is
  recorded but the engine has not yet moved the token on, or the 250 never
  got recorded at all), the send fails and so does its token (SEMANTICS 8).
  A token that has already moved on is not pulled back: the email was
  accepted, the lead went on, and what follows in the flow (a wait, a
  condition) may already have happened. The send shows as bounced in
  ``status`` and the report either way.
- **Soft bounce** (mailbox full, refused for policy, a temporary failure):
  counted on the send; the address stays.
- **Complaint** (an ARF spam report): suppressed (reason ``complaint``),
  noted on the send.
- **Unsubscribe email** (the List-Unsubscribe ``mailto:``): exactly what the
  one-click link does, through the tracking sink: the address is suppressed
  and the lead's tokens finish in every campaign here that has it.

Which send a report is about comes from its signed VERP token; a token that
does not verify changes nothing. The returned Message-ID is used only when
there is no token, and only if the report names the same address the send
went to (a Message-ID is easy to guess; an address plus a Message-ID is not
a way to hurt anyone else). Each message acts once: its digest is kept in
``mailbox_reports`` in the same transaction as what it did.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from engine.bounces.reports import (
    COMPLAINT,
    DELAYED,
    HARD,
    SOFT,
    UNSUBSCRIBE_REQUEST,
    MailReport,
    read_report,
)
from engine.delivery.verp import VerpTokens
from engine.store import suppression
from engine.store.bulk import begin_write, execute_many, fetch_all
from engine.store.database import Database
from engine.store.models import MailboxReport

log = logging.getLogger("mailbranch.bounces")

_SEND = ("SELECT s.id, s.campaign_id, s.lead_id, s.node, s.status, l.email, c.uid, s.bounced_at"
         " FROM sends s JOIN leads l ON l.id = s.lead_id JOIN campaigns c ON c.id = s.campaign_id WHERE ")
_INSERT_FAILED = ("INSERT INTO events (campaign_id, lead_id, lead_key, type, node, send_id, url, at, source, state,"
                  " triggered) VALUES (?, ?, NULL, 'send_failed', ?, ?, NULL, ?, 'mailbox', 'pending', '[]')")


@dataclass(frozen=True)
class Applied:
    """What one message did, for the log, ``status`` and tests."""

    kind: str
    #: failed | bounced | counted | suppressed | unsubscribed | noted | unmatched | forged | ignored | duplicate
    outcome: str
    send_id: Optional[int] = None
    email: Optional[str] = None
    detail: str = ""


@dataclass
class _Send:
    id: int
    campaign_id: int
    lead_id: int
    node: str
    status: str
    email: Optional[str]
    campaign_uid: str
    bounced_at: Optional[int]


def _uid_in_message_id(message_id: str) -> Optional[str]:
    """The campaign uid in our Message-IDs, ``<t{token}.{node}.{uid}@domain>``."""
    local = message_id.strip().strip("<>").partition("@")[0]
    parts = local.split(".")
    return parts[2] if len(parts) == 3 and parts[0].startswith("t") and parts[2] else None


class BouncePolicy:
    """Applies what the bounce mailbox reports to the database."""

    def __init__(self, db: Database, verp: VerpTokens, clock_ms: Callable[[], int], *,
                 sink: Optional[object] = None, on_events: Optional[Callable[[], None]] = None) -> None:
        self.db = db
        self.verp = verp
        self.clock_ms = clock_ms
        #: The tracking sink, for unsubscribe emails (the same path as the one-click link).
        self.sink = sink
        #: Called after a transaction that wrote events for the engine (to wake its loop).
        self.on_events = on_events
        #: Scale-out: called inside that transaction with (campaign, lead, at) of each event,
        #: to wake the worker of the lead's shard (like the tracking sink's ``on_events``).
        self.on_written: Optional[Callable[[object, list[tuple[int, int, int]]], None]] = None

    async def apply(self, raw: bytes) -> Applied:
        """Read one message and do what it says; acts once per message, however often it is read."""
        report = read_report(raw)
        key = hashlib.sha256(raw).hexdigest()
        if report.kind == UNSUBSCRIBE_REQUEST and self.sink is not None:
            applied = await self._unsubscribe(report)
            await asyncio.to_thread(self._remember, key, report, applied)
            return applied
        applied, woke = await asyncio.to_thread(self._apply, key, report)
        if woke and self.on_events is not None:
            self.on_events()
        return applied

    # -- finding the send ------------------------------------------------------
    def _find(self, s, report: MailReport) -> tuple[Optional[_Send], Optional[str]]:
        """The send a report is about, or (None, why not)."""
        if report.token:
            claim = self.verp.read(report.token)
            if claim is None:
                return None, "forged"
            rows = fetch_all(s, _SEND + "s.id = ? AND c.uid = ?", (claim.send_id, claim.campaign_uid))
            return (_Send(*rows[0]), None) if rows else (None, "unmatched")
        if report.original_message_id and report.recipient:
            uid = _uid_in_message_id(report.original_message_id)
            if uid:
                message_id = "<" + report.original_message_id.strip().strip("<>") + ">"
                rows = fetch_all(s, _SEND + "c.uid = ? AND s.message_id = ?", (uid, message_id))
                for row in rows:
                    send = _Send(*row)
                    if suppression.normalise(send.email or "") == suppression.normalise(report.recipient):
                        return send, None
        return None, "unmatched"

    # -- acting ------------------------------------------------------------------
    def _apply(self, key: str, report: MailReport) -> tuple[Applied, bool]:
        now = self.clock_ms()
        with self.db.session() as s:
            begin_write(s)
            if s.get(MailboxReport, key) is not None:
                return Applied(report.kind, "duplicate", detail=report.detail), False
            woke = False
            if report.kind not in (HARD, SOFT, DELAYED, COMPLAINT, UNSUBSCRIBE_REQUEST):
                applied = Applied(report.kind, "ignored", detail=report.detail)
            else:
                send, why_not = self._find(s, report)
                if send is None:
                    applied = Applied(report.kind, why_not or "unmatched", email=report.recipient,
                                      detail=report.detail)
                elif report.kind == HARD:
                    applied, woke = self._hard(s, send, report, now)
                elif report.kind == SOFT:
                    execute_many(s, "UPDATE sends SET soft_bounces = COALESCE(soft_bounces, 0) + 1 WHERE id = ?",
                                 [(send.id,)])
                    applied = Applied(SOFT, "counted", send.id, send.email, report.detail)
                elif report.kind == COMPLAINT:
                    execute_many(s, "UPDATE sends SET complained_at = ? WHERE id = ? AND complained_at IS NULL",
                                 [(now, send.id)])
                    self._suppress(s, send, "complaint", report, now)
                    applied = Applied(COMPLAINT, "suppressed", send.id, send.email, report.detail)
                else:  # delayed (a warning: the message is still being tried), or no sink for an unsubscribe
                    applied = Applied(report.kind, "noted", send.id, send.email, report.detail)
            self._record(s, key, report, applied, now, send_uid=self._uid_of(s, applied))
        return applied, woke

    def _hard(self, s, send: _Send, report: MailReport, now: int) -> tuple[Applied, bool]:
        reason = f"bounced: {report.status + ' ' if report.status else ''}{report.detail}".strip()
        execute_many(s, "UPDATE sends SET bounced_at = ?, bounce = ? WHERE id = ? AND bounced_at IS NULL",
                     [(now, reason, send.id)])
        self._suppress(s, send, "bounce", report, now)
        # The 250 never got recorded (or the send is back in the queue after a lost lease):
        # it fails here, and the token standing on its node with it.
        failed_now = execute_many(s, "UPDATE sends SET status = 'failed', error = ?, sent_at = ?, claimed_until ="
                                     " NULL WHERE id = ? AND status IN ('queued', 'sending')",
                                  [(reason, now, send.id)])
        if failed_now:
            execute_many(s, _INSERT_FAILED, [(send.campaign_id, send.lead_id, send.node, send.id, now)])
            self._written(s, send, now)
            return Applied(HARD, "failed", send.id, send.email, report.detail), True
        # Recorded as delivered, but the engine has not moved the token on yet: what was
        # a delivery becomes a failure (compare-and-set on the pending event).
        turned = execute_many(s, "UPDATE events SET type = 'send_failed', at = ? WHERE campaign_id = ? AND"
                                 " state = 'pending' AND send_id = ? AND type = 'delivered'",
                              [(now, send.campaign_id, send.id)])
        if turned:
            execute_many(s, "UPDATE sends SET status = 'failed', error = ? WHERE id = ?", [(reason, send.id)])
            self._written(s, send, now)
            return Applied(HARD, "failed", send.id, send.email, report.detail), True
        return Applied(HARD, "bounced", send.id, send.email, report.detail), False

    def _written(self, s, send: _Send, now: int) -> None:
        if self.on_written is not None:
            self.on_written(s, [(send.campaign_id, send.lead_id, now)])

    def _suppress(self, s, send: _Send, reason: str, report: MailReport, now: int) -> None:
        if not send.email:
            return
        note = " ".join(part for part in (report.status, report.detail) if part) or None
        try:
            suppression.add(s, send.email, reason, at=now, campaign_uid=send.campaign_uid,
                            note=note[: suppression.MAX_NOTE] if note else None)
        except suppression.SuppressionError as exc:
            log.warning("a %s for an address that cannot be listed (%s)", reason, exc)

    async def _unsubscribe(self, report: MailReport) -> Applied:
        def find() -> tuple[Optional[_Send], Optional[str]]:
            with self.db.session() as s:
                return self._find(s, report)

        send, why_not = await asyncio.to_thread(find)
        if send is None:
            return Applied(UNSUBSCRIBE_REQUEST, why_not or "unmatched", email=report.recipient, detail=report.detail)
        outcome = await self.sink.unsubscribe(send.campaign_uid, send.lead_id, send.email)  # type: ignore[union-attr]
        return Applied(UNSUBSCRIBE_REQUEST, "unsubscribed" if outcome else "unmatched", send.id, send.email,
                       report.detail)

    # -- remembering ---------------------------------------------------------------
    def _uid_of(self, s, applied: Applied) -> Optional[str]:
        if applied.send_id is None:
            return None
        rows = fetch_all(s, "SELECT c.uid FROM sends s JOIN campaigns c ON c.id = s.campaign_id WHERE s.id = ?",
                         (applied.send_id,))
        return rows[0][0] if rows else None

    def _record(self, s, key: str, report: MailReport, applied: Applied, now: int,
                send_uid: Optional[str]) -> None:
        s.add(MailboxReport(key=key, at=now, kind=report.kind, outcome=applied.outcome, campaign_uid=send_uid,
                            send_id=applied.send_id, email=(applied.email or "")[:320] or None,
                            detail=applied.detail or None))
        s.flush()
        log.info("bounce mailbox: %s -> %s (send %s, %s)", report.kind, applied.outcome, applied.send_id,
                 applied.detail)

    def _remember(self, key: str, report: MailReport, applied: Applied) -> None:
        with self.db.session() as s:
            begin_write(s)
            if s.get(MailboxReport, key) is None:
                self._record(s, key, report, applied, self.clock_ms(), self._uid_of(s, applied))

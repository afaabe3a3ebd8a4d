"""One message from the bounce mailbox, read into what it reports.

What can arrive at ``bounce+TOKEN@`` / ``unsubscribe+TOKEN@`` (or at a
feedback-loop address that forwards to the same mailbox):

- a DSN (RFC 3464: ``multipart/report; report-type=delivery-status``): the
  per-recipient ``Action`` and ``Status`` say failed for good (hard), failed
  for a reason that may pass (soft), or only delayed;
- an ARF complaint report (RFC 5965: ``report-type=feedback-report``): a
  recipient marked the message as spam;
- a bounce in an older MTA's own format (qmail, Exim's plain text...):
  flufl.bounce, the parser GNU Mailman uses, tells permanent from temporary;
- an email a person sent to the ``mailto:`` of List-Unsubscribe;
- anything else (an out-of-office reply to the Return-Path...): ignored.

Which send it is about comes from the VERP address the message was delivered
to, else a VERP address inside the report (an ARF's Original-Mail-From, the
returned message's Return-Path), else the returned message's Message-ID.

Status codes (RFC 3463) are the judge, not the wording: a 5.x.x is hard
except where the address itself is fine and the refusal is about this
message or our reputation (5.2.2 mailbox full, 5.2.3 message too big,
5.3.x the receiving system, 5.7.x policy, spam, authentication): those are
soft, and never suppress a good address.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses, parseaddr
from typing import Optional

from engine.delivery.verp import UNSUBSCRIBE, parse_verp

HARD = "hard"
SOFT = "soft"
DELAYED = "delayed"
COMPLAINT = "complaint"
UNSUBSCRIBE_REQUEST = "unsubscribe"
IGNORED = "ignored"

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
#: ARF Feedback-Types that are a recipient's complaint (RFC 5965 3.5; "other" is how
#: some providers send plain spam reports). auth-failure, not-spam, virus are not.
_COMPLAINT_TYPES = {"abuse", "fraud", "other"}
#: Headers that may hold the address the message was delivered to, most exact first.
_DELIVERED_TO = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "X-Rcpt-To", "To", "Cc")
_DETAIL_LIMIT = 500


@dataclass(frozen=True)
class MailReport:
    #: hard | soft | delayed | complaint | unsubscribe | ignored
    kind: str
    #: The VERP token that names the send (unchecked: ``VerpTokens.read`` checks it).
    token: Optional[str] = None
    #: The returned message's Message-ID, when the report carries it (a fallback).
    original_message_id: Optional[str] = None
    #: The address the report is about, as the report says (the send's own address wins).
    recipient: Optional[str] = None
    #: RFC 3463 status (``5.1.1``), when there is one.
    status: Optional[str] = None
    #: One line for a marketer: the remote server's diagnostic, or what the report was.
    detail: str = ""


def classify_status(status: Optional[str]) -> Optional[str]:
    """``hard``, ``soft`` or ``delayed`` for an RFC 3463 status code; None when there is none."""
    match = _STATUS.search(status or "")
    if not match:
        return None
    klass, subject, detail = match.group(1), int(match.group(2)), int(match.group(3))
    if klass == "2":
        return None
    if klass == "4":
        return SOFT
    if subject == 7 or subject == 3 or (subject == 2 and detail in (2, 3)):
        return SOFT
    return HARD


def _one_line(text: object, limit: int = _DETAIL_LIMIT) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _address_field(value: Optional[str]) -> Optional[str]:
    """``rfc822; ann@example.com`` -> ``ann@example.com``."""
    if not value:
        return None
    _type, _, address = str(value).partition(";")
    address = (address or _type).strip().strip("<>").strip()
    return address or None


def _find_token(message: Message) -> tuple[Optional[str], Optional[str]]:
    """(kind, token) from the addresses this message was delivered to."""
    for header in _DELIVERED_TO:
        values = message.get_all(header) or []
        for _name, address in getaddresses([str(v) for v in values]):
            found = parse_verp(address)
            if found:
                return found
    return None, None


def _parts(message: Message, content_type: str) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() == content_type]


def _returned_headers(message: Message) -> Optional[Message]:
    """The returned message (or its headers) inside a report, as a Message."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        if kind in ("text/rfc822-headers", "text/global-headers"):
            raw = part.get_payload(decode=True) or b""
            return email.message_from_bytes(raw)
    return None


def _original_identity(message: Message, fields: Optional[Message] = None) -> tuple[Optional[str], Optional[str]]:
    """(VERP token, Message-ID) of the returned message, from the report's own fields first."""
    token = None
    candidates = []
    if fields is not None:
        candidates.append(fields.get("Original-Mail-From"))
    returned = _returned_headers(message)
    if returned is not None:
        candidates += [returned.get("Return-Path"), returned.get("Sender")]
    for candidate in candidates:
        found = parse_verp(parseaddr(str(candidate or ""))[1])
        if found:
            token = found[1]
            break
    message_id = None
    if returned is not None and returned.get("Message-ID"):
        message_id = str(returned.get("Message-ID")).strip()
    return token, message_id


def _dsn(message: Message, token: Optional[str]) -> MailReport:
    report = _parts(message, "message/delivery-status")
    blocks = report[0].get_payload() if report else []
    recipients = [b for b in (blocks[1:] if isinstance(blocks, list) else []) if isinstance(b, Message)]
    verdict, chosen = None, None
    rank = {HARD: 3, SOFT: 2, DELAYED: 1}
    for block in recipients:
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip()
        if action == "failed":
            kind = classify_status(status) or HARD
        elif action == "delayed":
            kind = DELAYED
        else:
            continue  # delivered, relayed, expanded: not a bounce
        if verdict is None or rank[kind] > rank[verdict]:
            verdict, chosen = kind, block
    inner_token, message_id = _original_identity(message)
    token = token or inner_token
    if verdict is None or chosen is None:
        return MailReport(IGNORED, token, message_id, detail="a delivery report that reports no failure")
    recipient = _address_field(chosen.get("Final-Recipient")) or _address_field(chosen.get("Original-Recipient"))
    status_match = _STATUS.search(str(chosen.get("Status", "")))
    diagnostic = chosen.get("Diagnostic-Code") or chosen.get("Status") or ""
    _type, _, text = str(diagnostic).partition(";")
    return MailReport(verdict, token, message_id, recipient, status_match.group(0) if status_match else None,
                      _one_line(text or diagnostic))


def _arf(message: Message, token: Optional[str]) -> MailReport:
    report = _parts(message, "message/feedback-report")
    fields: Optional[Message] = None
    if report:
        payload = report[0].get_payload()
        if isinstance(payload, list) and payload:
            fields = payload[0]
        elif isinstance(payload, str):
            fields = email.message_from_string(payload)
    inner_token, message_id = _original_identity(message, fields)
    token = token or inner_token
    feedback = str(fields.get("Feedback-Type", "")).strip().lower() if fields is not None else ""
    recipient = _address_field(fields.get("Original-Rcpt-To")) if fields is not None else None
    if feedback not in _COMPLAINT_TYPES:
        return MailReport(IGNORED, token, message_id, recipient,
                          detail=f"a feedback report of type {feedback or 'unknown'} (not a complaint)")
    source = str(fields.get("Reported-Domain") or fields.get("Source-IP") or "") if fields is not None else ""
    return MailReport(COMPLAINT, token, message_id, recipient,
                      detail=_one_line(f"marked as spam ({feedback} report{' from ' + source if source else ''})"))


def _legacy_bounce(message: Message, token: Optional[str]) -> Optional[MailReport]:
    """A bounce in an older MTA's own format, by flufl.bounce's detectors."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(message)
    except Exception:  # noqa: BLE001 - a detector tripping on odd input is "not a bounce"
        return None
    found = permanent or temporary
    if not found:
        return None
    address = sorted(found)[0]
    address = address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)
    inner_token, message_id = _original_identity(message)
    kind = HARD if permanent else SOFT
    return MailReport(kind, token or inner_token, message_id, address,
                      detail=_one_line(f"{'permanent' if permanent else 'temporary'} failure reported by "
                                       f"{parseaddr(str(message.get('From', '')))[1] or 'the mail system'}"))


def read_report(raw: bytes) -> MailReport:
    """What one message of the bounce mailbox reports (never raises for bad input)."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # noqa: BLE001 - a message the parser cannot read is ignored, not fatal
        return MailReport(IGNORED, detail=f"unreadable message ({type(exc).__name__})")
    kind, token = _find_token(message)
    if kind == UNSUBSCRIBE:
        sender = parseaddr(str(message.get("From", "")))[1] or None
        return MailReport(UNSUBSCRIBE_REQUEST, token, None, sender, detail="asked to unsubscribe by email")
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type", "") or "").lower()
        if report_type == "delivery-status":
            return _dsn(message, token)
        if report_type == "feedback-report":
            return _arf(message, token)
    if _parts(message, "message/feedback-report"):
        return _arf(message, token)  # some providers forward the report inside another message
    if _parts(message, "message/delivery-status"):
        return _dsn(message, token)
    legacy = _legacy_bounce(message, token)
    if legacy is not None:
        return legacy
    subject = _one_line(message.get("Subject", ""), 120)
    return MailReport(IGNORED, token, detail=f"not a bounce or a complaint (subject: {subject or 'none'})")

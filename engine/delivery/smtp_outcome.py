"""What became of one message sent over SMTP, and what a failure means.

Every failure is classified as transient (try again later: 4xx replies,
timeouts, a drop in the middle of DATA) or permanent (5xx: this message will
never be accepted), and by what it is about (``scope``): this one message,
the server being away, or the server refusing this session (see
``smtp.py``'s docstring for what the outbox does with each).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Literal, Optional

import aiosmtplib

Scope = Literal["message", "server", "session"]


class SessionRefused(aiosmtplib.SMTPException):
    """We will not hold this session as set up (a CA bundle that cannot be read, ...)."""


class PlainAuthRefused(SessionRefused):
    """The server offers no TLS and the settings do not allow a password in clear."""


class MessageProblem(ValueError):
    """This one message cannot be written or sent as it is (e.g. an address this server cannot take)."""


@dataclass(frozen=True)
class SendOutcome:
    """What became of one message. ``code`` is the SMTP reply code when there was one."""

    ok: bool
    permanent: bool = False
    code: Optional[int] = None
    error: Optional[str] = None
    scope: Scope = "message"

    @property
    def transient(self) -> bool:
        return not self.ok and not self.permanent


SENT = SendOutcome(ok=True, code=250)


def _by_code(code: int, text: str, scope: Scope = "message") -> SendOutcome:
    return SendOutcome(ok=False, permanent=500 <= code < 600, code=code, error=f"{code} {text}".strip(), scope=scope)


#: Replies to RCPT that are about our session, not the recipient: every lead would get the same.
_SESSION_WORDS = ("authentication required", "relay access denied", "relaying denied", "not authenticated",
                  "must authenticate", "sender address rejected")


def _about_session(code: int, text: str) -> bool:
    lowered = text.lower()
    return code == 530 or lowered.startswith(("5.7.0", "5.7.8", "5.7.9")) or any(w in lowered for w in _SESSION_WORDS)


def _session(code: Optional[int], why: str) -> SendOutcome:
    return SendOutcome(False, False, code, why, "session")


def classify(error: BaseException, *, connecting: bool = False) -> SendOutcome:
    """Transient or permanent; about the message, the server, or our session; for any error a send can raise."""
    scope: Scope = "server" if connecting else "message"
    if isinstance(error, SessionRefused):
        return _session(None, str(error))
    if isinstance(error, MessageProblem):
        return SendOutcome(False, True, None, str(error), "message")
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refusals = error.recipients or []
        codes = [r.code for r in refusals]
        code = min(codes) if codes else 550
        text = "; ".join(f"{r.recipient}: {r.message}" for r in refusals)
        if code == 421:
            return _by_code(code, text, "server")
        if code >= 500 and all(_about_session(r.code, r.message) for r in refusals):
            return _session(code, f"the server refuses to relay for this account: {code} {text}")
        return _by_code(code, text)
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        # The account, not the message: every send would fail the same way.
        return _session(error.code, f"the server refused the login: {error.code} {error.message}")
    if isinstance(error, aiosmtplib.SMTPResponseException):
        code, text = error.code, error.message
        if code == 421 or (400 <= code < 500 and (connecting or isinstance(
                error, (aiosmtplib.SMTPConnectResponseError, aiosmtplib.SMTPHeloError)))):
            return SendOutcome(False, False, code, f"the server is not taking mail now: {code} {text}", "server")
        if isinstance(error, aiosmtplib.SMTPHeloError):
            return _session(code, f"the server refused our greeting (EHLO/HELO): {code} {text}")
        if isinstance(error, aiosmtplib.SMTPConnectResponseError):
            return _session(code, f"the server refused the connection: {code} {text}")
        if connecting:
            return _session(code, f"the server refused the session: {code} {text}")
        if isinstance(error, aiosmtplib.SMTPSenderRefused):
            if code >= 500 and code != 552:
                return _session(code, f"the server refused the sender address (MAIL FROM {error.sender}): "
                                      f"{code} {text}")
            return _by_code(code, text)
        if code >= 500 and _about_session(code, text):
            return _session(code, f"the server refused the session: {code} {text}")
        return _by_code(code, text)
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        return _session(None, f"the server does not support what the settings ask: {error}")
    if isinstance(error, (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return SendOutcome(False, False, None, f"timed out: {error}", scope)
    if isinstance(error, aiosmtplib.SMTPServerDisconnected):
        return SendOutcome(False, False, None, f"server disconnected: {error}", scope)
    if isinstance(error, aiosmtplib.SMTPConnectError):
        return SendOutcome(False, False, None, f"cannot connect: {error}", "server")
    if isinstance(error, ssl.SSLCertVerificationError):
        why = getattr(error, "verify_message", None) or error
        return _session(None, f"the server's certificate does not verify ({why}); "
                              "set a CA bundle in the settings if it is signed by your own authority")
    if isinstance(error, ssl.SSLError):
        return _session(None, f"TLS with the server failed: {error}")
    if isinstance(error, OSError):
        return SendOutcome(False, False, None, f"network error: {error}", "server" if connecting else scope)
    if connecting and isinstance(error, aiosmtplib.SMTPException):
        # e.g. "SMTP STARTTLS extension not supported by server" on smtp+starttls://
        text = str(error)
        if "starttls" in text.lower():
            text = ("the server offers no STARTTLS, and the settings require it (smtp+starttls://); "
                    "nothing was sent without encryption")
        return _session(None, text)
    if isinstance(error, (ValueError, aiosmtplib.SMTPException)):
        # e.g. a message with no recipient: sending it again cannot help.
        return SendOutcome(False, True, None, f"message cannot be sent: {error}", "message")
    return SendOutcome(False, False, None, f"{type(error).__name__}: {error}", scope)

"""Writing a rendered email straight to bytes, for the outbox's hot path.

``email.message.EmailMessage`` parses every header it is given and folds
them again on output: about 2 ms per message, most of an outbox's CPU. The
outbox's messages always have the same shape (a few headers, and a
multipart/alternative of text and HTML), so they are written directly:
RFC 2047 for non-ASCII headers, 7bit or quoted-printable bodies, CRLF line ends.
An address with non-ASCII characters is written as UTF-8 (RFC 6532), which is
only valid over SMTPUTF8; ``ascii_address`` gives the form every server takes
(IDNA for the domain) when the local part is ASCII.
``tests/delivery/test_mime.py`` checks the bytes parse back to the same
message ``render.build_message`` makes.
"""

from __future__ import annotations

import binascii
import secrets
import time
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from typing import Optional

import idna

from engine.delivery.smtp import MessageProblem
from engine.delivery.smtp_transaction import PLAIN_ADDRESS

#: RFC 5322 2.1.1: lines SHOULD stay within 78 characters and MUST within 998.
FOLD_AT = 78
_LONGEST_WORD = 900


def _header(value: str, name: str = "Subject") -> str:
    """The header's value, folded at spaces so that its lines stay within 78 characters
    wherever a space allows, and never over 998 (a word too long for one line, or any
    non-ASCII text, goes as RFC 2047 encoded words, which fold anywhere)."""
    value = " ".join(value.split())  # no line breaks may reach a header
    if value.isascii():
        if len(name) + 2 + len(value) <= FOLD_AT:
            return value
        if all(len(word) <= _LONGEST_WORD for word in value.split(" ")):
            return _fold(name, value)
    return Header(value, "utf-8", maxlinelen=76, header_name=name).encode(linesep="\r\n")


def _fold(name: str, value: str) -> str:
    """ASCII words joined into lines under 78 characters; a longer word gets a line of its own."""
    lines: list[str] = []
    line: list[str] = []
    width = len(name) + 1  # "Name:"; every word adds a space before it
    for word in value.split(" "):
        if line and width + 1 + len(word) > FOLD_AT:
            lines.append(" ".join(line))
            line, width = [], 0
        line.append(word)
        width += 1 + len(word)
    lines.append(" ".join(line))
    return "\r\n ".join(lines)


def _address(value: str) -> str:
    if PLAIN_ADDRESS.fullmatch(value):  # every lead's To: skip the email package's parser
        return value
    name, address = parseaddr(value)
    if not address:
        return _header(value, "To")
    if not address.isascii():
        # RFC 6532: the address itself in UTF-8; a display name still as an encoded word.
        if not name:
            return address
        shown = formataddr((name, "x@x"), charset="utf-8")[:-len("<x@x>")]
        return f"{shown}<{address}>"
    if name and not name.isascii():
        return formataddr((name, address), charset="utf-8")
    return formataddr((name, address))


@lru_cache(maxsize=1024)
def _sender_header(sender: str) -> str:
    """``_address`` for the From header: one per email node, so parsed once, not per message."""
    return _address(sender)


def ascii_address(address: str) -> str:
    """The address as every SMTP server takes it: the domain in IDNA (``xn--…``).

    Raises :class:`MessageProblem` when that is impossible: a local part (before
    the @) with non-ASCII characters needs a server that offers SMTPUTF8.
    """
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if not at:
        raise MessageProblem(f"{address} is not an email address")
    if not local.isascii():
        raise MessageProblem(f"{address} has non-ASCII characters before the @, and the outgoing server does not "
                             "offer SMTPUTF8, which such an address needs")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise MessageProblem(f"the domain of {address} cannot be written for the mail system ({exc})") from None
    return f"{local}@{ascii_domain}"


def ascii_sender(sender: str) -> str:
    """``ascii_address`` for a ``Name <address>`` header value, keeping the name."""
    name, address = parseaddr(sender)
    if not address or address.isascii():
        return sender
    return formataddr((name, ascii_address(address)), charset="utf-8") if name else ascii_address(address)


def _body(text: str) -> tuple[str, bytes]:
    """The transfer encoding and the encoded part, as the email package would choose:
    plain 7bit for ASCII text with short lines (fewer, longer lines for every SMTP hop
    to read), quoted-printable otherwise."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and all(len(line) <= 998 for line in text.split("\n")):
        return "7bit", text.encode("ascii").replace(b"\n", b"\r\n")
    data = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True)
    return "quoted-printable", data.replace(b"\n", b"\r\n")


@lru_cache(maxsize=1024)
def envelope_sender(sender: str) -> str:
    return parseaddr(sender)[1] or sender


_DATE: list = [0, ""]


def rfc5322_date() -> str:
    """Now, as RFC 5322 writes it with a numeric zone (``+0000``, not the obsolete ``GMT``);
    made once a second, not once a message."""
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[:] = [now, format_datetime(datetime.fromtimestamp(now, UTC))]
    return _DATE[1]


def build_raw(*, sender: str, to: str, subject: str, html: str, text: str, message_id: str,
              unsubscribe_url: Optional[str], date: str | None = None, reply_to: Optional[str] = None,
              unsubscribe_mailto: Optional[str] = None, list_id: Optional[str] = None,
              feedback_id: Optional[str] = None, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The same message as ``render.build_message``, as bytes ready for SMTP."""
    boundary = "=_mb_" + secrets.token_hex(12)
    head = [
        f"From: {_sender_header(sender)}",
        f"To: {_address(to)}",
        f"Subject: {_header(subject)}",
        f"Date: {date or rfc5322_date()}",
        f"Message-ID: {message_id}",
    ]
    if reply_to:
        head.append(f"Reply-To: {_sender_header(reply_to)}")
    unsubscribe = list_unsubscribe(unsubscribe_url, unsubscribe_mailto)
    if unsubscribe:
        head.append(f"List-Unsubscribe: {_header(unsubscribe, 'List-Unsubscribe')}")
        if unsubscribe_url:  # RFC 8058 one-click needs the https URL
            head.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    if list_id:
        head.append(f"List-Id: {_header(list_id, 'List-Id')}")
    if feedback_id:
        head.append(f"Feedback-ID: {feedback_id}")
    head += [f"{name}: {_header(value, name)}" for name, value in extra]
    head += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"']
    # UTF-8 only when an address needs it (RFC 6532); everything else is ASCII already.
    chunks = [("\r\n".join(head) + "\r\n\r\n").encode("utf-8")]
    for subtype, body in (("plain", text), ("html", html)):
        encoding, data = _body(body)
        chunks += [f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
                   f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode("ascii"), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks)


def list_unsubscribe(url: Optional[str], mailto: Optional[str]) -> str:
    """The List-Unsubscribe value (RFC 2369): the https one-click URL, then the ``mailto:``."""
    return ", ".join(f"<{target}>" for target in (url, mailto) if target)

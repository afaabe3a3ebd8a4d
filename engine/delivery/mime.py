"""Writing a rendered email straight to bytes, for the outbox's hot path.

``email.message.EmailMessage`` parses every header it is given and folds
them again on output: about 2 ms per message, most of an outbox's CPU. The
outbox's messages always have the same shape (a few headers, and a
multipart/alternative of text and HTML), so they are written directly:
RFC 2047 for non-ASCII headers, 7bit or quoted-printable bodies, CRLF line ends.
``tests/delivery/test_mime.py`` checks the bytes parse back to the same
message ``render.build_message`` makes.
"""

from __future__ import annotations

import binascii
import secrets
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr


def _header(value: str, name: str = "Subject") -> str:
    value = " ".join(value.split())  # no line breaks may reach a header
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=76, header_name=name).encode(linesep="\r\n")


def _address(value: str) -> str:
    name, address = parseaddr(value)
    if not address:
        return _header(value, "To")
    if name and not name.isascii():
        return formataddr((name, address), charset="utf-8")
    return formataddr((name, address))


def _body(text: str) -> tuple[str, bytes]:
    """The transfer encoding and the encoded part, as the email package would choose:
    plain 7bit for ASCII text with short lines (fewer, longer lines for every SMTP hop
    to read), quoted-printable otherwise."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and all(len(line) <= 998 for line in text.split("\n")):
        return "7bit", text.encode("ascii").replace(b"\n", b"\r\n")
    data = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True)
    return "quoted-printable", data.replace(b"\n", b"\r\n")


def envelope_sender(sender: str) -> str:
    return parseaddr(sender)[1] or sender


def build_raw(*, sender: str, to: str, subject: str, html: str, text: str, message_id: str,
              unsubscribe_url: str, date: str | None = None) -> bytes:
    """The same message as ``render.build_message``, as bytes ready for SMTP."""
    boundary = "=_mb_" + secrets.token_hex(12)
    head = [
        f"From: {_address(sender)}",
        f"To: {_address(to)}",
        f"Subject: {_header(subject)}",
        f"Date: {date or formatdate(localtime=False, usegmt=True)}",
        f"Message-ID: {message_id}",
        f"List-Unsubscribe: <{unsubscribe_url}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    chunks = [("\r\n".join(head) + "\r\n\r\n").encode("ascii")]
    for subtype, body in (("plain", text), ("html", html)):
        encoding, data = _body(body)
        chunks += [f'--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
                   f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode("ascii"), data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks)

"""VERP addresses: a Return-Path and an unsubscribe mailto that name the send.

A bounce (a DSN) or an unsubscribe email comes back to an address we chose
when we sent, so that address is where we say which send it is about:
``bounce+TOKEN@domain`` for the envelope sender (Variable Envelope Return
Path) and ``unsubscribe+TOKEN@domain`` for the ``mailto:`` in
List-Unsubscribe. The bounce mailbox reader parses the address back and
needs no guesswork about which lead bounced.

TOKEN is signed with the installation's tracking secret, so a stranger
cannot make one that fails or suppresses someone else's send. It must
survive a trip through mail servers, some of which fold the local part to
lower case, and fit in the 64 characters a local part may have; so it is
lower-case base32 (no padding) of a compact binary payload: the campaign's
uid (its 16 random bytes when it is a standard uid), the send id and a
64-bit HMAC. The MAC is short because it is only ever checked online,
one guess per email; 64 bits is far out of reach of that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Optional, Union

import idna

#: Local-part prefixes: what the address is for.
BOUNCE = "bounce"
UNSUBSCRIBE = "unsubscribe"
_KINDS = (BOUNCE, UNSUBSCRIBE)
_MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1
_MAC_BYTES = 8
_SALT = b"mailbranch.verp"
_STANDARD_UID_BYTES = 16  # engine.store.models.new_campaign_uid: token_urlsafe(16)
_FLAG_STANDARD = 0xFF


@dataclass(frozen=True)
class SendClaim:
    """What a genuine VERP token says: this campaign's send with this id."""

    campaign_uid: str
    send_id: int


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def _unb32(text: str) -> bytes:
    text = text.upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes) -> tuple[int, int]:
    """(value, bytes used); ValueError when it runs off the end or is absurd."""
    value = 0
    for index, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, index + 1
    raise ValueError("unterminated number")


def _uid_bytes(uid: str) -> bytes:
    """A standard uid as its 16 random bytes (flag 0xFF), anything else as UTF-8 with its length."""
    try:
        raw = base64.urlsafe_b64decode(uid + "=" * (-len(uid) % 4))
        if len(raw) == _STANDARD_UID_BYTES and base64.urlsafe_b64encode(raw).decode().rstrip("=") == uid:
            return bytes([_FLAG_STANDARD]) + raw
    except (ValueError, UnicodeError):
        pass
    text = uid.encode("utf-8")
    if len(text) >= _FLAG_STANDARD:
        raise ValueError(f"a campaign uid this long cannot go in a VERP address: {uid!r}")
    return bytes([len(text)]) + text


def _read_uid(data: bytes) -> tuple[str, int]:
    if not data:
        raise ValueError("empty")
    if data[0] == _FLAG_STANDARD:
        raw = data[1:1 + _STANDARD_UID_BYTES]
        if len(raw) != _STANDARD_UID_BYTES:
            raise ValueError("short uid")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="), 1 + _STANDARD_UID_BYTES
    size = data[0]
    raw = data[1:1 + size]
    if len(raw) != size or not raw:
        raise ValueError("short uid")
    return raw.decode("utf-8"), 1 + size


class VerpTokens:
    """Makes and checks VERP tokens with the installation's secret.

    The key is derived with its own salt, so a VERP token's MAC can never be
    taken for a tracking token's signature, or the other way round.
    """

    def __init__(self, secret: Union[str, bytes]) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        self._key = hmac.new(raw, _SALT, hashlib.sha256).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def make(self, campaign_uid: str, send_id: int) -> str:
        """The token for one send: lower-case letters and digits 2-7 only."""
        if not isinstance(campaign_uid, str) or not campaign_uid:
            raise ValueError(f"a VERP token needs the campaign's uid (text), not {campaign_uid!r}")
        if not isinstance(send_id, int) or isinstance(send_id, bool) or send_id < 0:
            raise ValueError(f"a VERP token needs a send id (a whole number), not {send_id!r}")
        payload = _uid_bytes(campaign_uid) + _varint(send_id)
        token = _b32(payload + self._mac(payload))
        if len(UNSUBSCRIBE) + 1 + len(token) > _MAX_LOCAL_PART:
            raise ValueError(f"the campaign uid {campaign_uid!r} makes a VERP address longer than 64 characters")
        return token

    def read(self, token: object) -> Optional[SendClaim]:
        """The claim of a genuine token (in any letter case), or None for anything forged or damaged."""
        if not isinstance(token, str) or not token or len(token) > _MAX_LOCAL_PART:
            return None
        text = token.strip().lower()
        try:
            data = _unb32(text)
        except (ValueError, UnicodeError):
            return None
        # Base32's last character carries spare bits: only the canonical spelling counts.
        if len(data) <= _MAC_BYTES or _b32(data) != text:
            return None
        payload, mac = data[:-_MAC_BYTES], data[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            uid, used = _read_uid(payload)
            send_id, used_id = _read_varint(payload[used:])
        except (ValueError, UnicodeError):
            return None
        if used + used_id != len(payload):
            return None
        return SendClaim(uid, send_id)


def _ascii_domain(domain: str) -> str:
    """The domain as it goes on the envelope: lower case, IDN as its A-label (xn--)."""
    domain = (domain or "").strip().rstrip(".").lower()
    if not domain:
        raise ValueError("a VERP address needs a domain")
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise ValueError(f"{domain!r} is not a domain name a mail server accepts: {error}") from None


def _address(kind: str, token: str, domain: str) -> str:
    if not token or not token.isalnum() or not token.isascii():
        raise ValueError(f"not a VERP token: {token!r}")
    return f"{kind}+{token.lower()}@{_ascii_domain(domain)}"


def bounce_address(token: str, domain: str) -> str:
    """The Return-Path (envelope MAIL FROM) for one send: ``bounce+TOKEN@domain``."""
    return _address(BOUNCE, token, domain)


def unsubscribe_address(token: str, domain: str) -> str:
    """The address an unsubscribe email goes to: ``unsubscribe+TOKEN@domain``."""
    return _address(UNSUBSCRIBE, token, domain)


def unsubscribe_mailto(token: str, domain: str) -> str:
    """The ``mailto:`` URL for List-Unsubscribe (RFC 2369), beside the https one-click link."""
    return "mailto:" + unsubscribe_address(token, domain)


def parse_verp(address: object) -> Optional[tuple[str, str]]:
    """``(kind, token)`` for a VERP address we could have made, else None.

    Takes a bare address, ``<address>``, ``Name <address>`` or a ``mailto:``
    URL, in any letter case; kind is ``bounce`` or ``unsubscribe``. The
    token is not checked here: ``VerpTokens.read`` does that.
    """
    if not isinstance(address, str) or len(address) > 1000:
        return None
    text = address.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:"):].split("?", 1)[0]
    _, addr = parseaddr(text)
    local, at, _domain = (addr or text).rpartition("@")
    if not at or "+" not in local:
        return None
    kind, _, token = local.partition("+")
    kind, token = kind.lower(), token.lower()
    if kind not in _KINDS or not token or not token.isascii() or not token.isalnum():
        return None
    return kind, token

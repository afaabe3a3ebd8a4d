"""Signed tracking tokens: what a pixel, a tracked link or an unsubscribe link
carries, so the tracking server can tell a genuine request from a forged or
damaged one without touching the database.

Tokens name their campaign by its world-unique uid, never by the integer id
(which restarts at 1 in every database): a token from another database or an
older campaign can then never be taken for one of the running campaign.
Tokens are signed, not encrypted: anyone holding one can read the address an
unsubscribe token carries (it is the reader's own address, in their own email).

Each purpose has its own salt, so an open token can never be replayed as a
click or an unsubscribe. Payloads are compact JSON lists (itsdangerous
compresses them when that is shorter) to keep URLs short. The secret is made
once per installation and kept in a file only its owner can read.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from itsdangerous import Signer, URLSafeSerializer
from itsdangerous.signer import HMACAlgorithm

from engine.delivery.verp import VerpTokens
from engine.flow.links import is_trackable

Id = Union[int, str]

_SALTS = {"open": "mailbranch.open", "click": "mailbranch.click", "unsubscribe": "mailbranch.unsubscribe"}
_SECRET_BYTES = 32


class SecretFileError(Exception):
    """The installation's secret file exists but cannot be used."""


def load_or_create_secret(path: Union[str, Path]) -> bytes:
    """The installation's signing secret, created on first use.

    The file is created exclusively with mode 0600, so two processes starting
    at once agree on one secret and other users cannot read it.
    """
    path = Path(path)
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(_SECRET_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race; use its secret
        return _read_secret(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return value.encode("ascii")


def _read_secret(path: Path) -> bytes:
    text = path.read_text(encoding="ascii", errors="replace").strip()
    if len(text) < 32:
        raise SecretFileError(
            f"The tracking secret in {path} is missing or too short. Delete the file to make a new one "
            "(links in emails already sent will stop being tracked)."
        )
    return text.encode("ascii")


@dataclass(frozen=True)
class OpenClaim:
    #: The campaign's world-unique uid; None for a token made by release 0.1,
    #: which carried the database's integer id and so names no campaign safely.
    campaign_uid: Optional[str]
    send_id: Id


@dataclass(frozen=True)
class ClickClaim:
    campaign_uid: Optional[str]
    send_id: Id
    #: The link as it was in that email: signed, so safe to redirect to.
    url: str


@dataclass(frozen=True)
class UnsubscribeClaim:
    campaign_uid: Optional[str]
    lead_id: Id
    #: The address the email was sent to (signed, not encrypted); None in a
    #: release 0.1 token.
    email: Optional[str]


def _is_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value != "")


def _uid(value: Any) -> Optional[str]:
    """A campaign uid is text; an integer is a release 0.1 campaign id (no longer trusted)."""
    return value if isinstance(value, str) else None


class _Sha1Hmac(HMACAlgorithm):
    """itsdangerous's HMAC-SHA1 in one call to OpenSSL (``hmac.digest``).

    ``hmac.new`` with a hash function, as itsdangerous calls it, builds the
    inner and outer hashes in Python: that was a third of checking a token on
    every pixel and click. The bytes are the same, so every token already
    sent still verifies."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha1")


class _KeyCachingSigner(Signer):
    """itsdangerous's Signer, deriving each key once instead of on every token.

    The outbox signs three tokens per email (pixel, link, unsubscribe); the
    key derivation (a SHA-1 of salt and secret) was a third of that work. The
    tokens are byte for byte the same, so every link already sent still works.
    """

    def derive_key(self, secret_key: Union[str, bytes, None] = None) -> bytes:
        cache: dict = self.__dict__.setdefault("_derived", {})
        key = cache.get(secret_key)
        if key is None:
            key = cache[secret_key] = super().derive_key(secret_key)
        return key


class _Serializer(URLSafeSerializer):
    """One signer per salt for the life of the serializer, not one per token."""

    def make_signer(self, salt: Union[str, bytes, None] = None) -> Signer:
        cache: dict = self.__dict__.setdefault("_signers", {})
        signer = cache.get(salt)
        if signer is None:
            signer = cache[salt] = super().make_signer(salt)
        return signer


class TrackingTokens:
    """Makes and reads the three kinds of token with one installation secret.

    Open and click tokens carry (campaign uid, send id), a click also the URL;
    an unsubscribe token carries (campaign uid, lead id, address). So each
    token can still be answered when its campaign is in another database: the
    click redirects to its own URL, the unsubscribe suppresses its address.
    """

    def __init__(self, secret: Union[str, bytes]) -> None:
        self._serializers = {
            purpose: _Serializer(secret, salt=salt, signer=_KeyCachingSigner, signer_kwargs={"algorithm": _Sha1Hmac()})
            for purpose, salt in _SALTS.items()
        }
        #: Each purpose's signing key, for ``_verified``.
        self._keys = {purpose: s.make_signer(s.salt).derive_key() for purpose, s in self._serializers.items()}
        #: VERP tokens (bounce Return-Path, mailto unsubscribe) signed with the same secret.
        self.verp = VerpTokens(secret)

    def _dump(self, purpose: str, campaign_uid: str, payload: list[Any]) -> str:
        if not isinstance(campaign_uid, str) or not campaign_uid:
            raise ValueError(f"a tracking token needs the campaign's uid (text), not {campaign_uid!r}")
        if not _is_id(payload[0]):
            raise ValueError(f"a tracking id must be an int or a non-empty string, not {payload[0]!r}")
        return self._serializers[purpose].dumps([campaign_uid, *payload])

    def _load(self, purpose: str, token: object, sizes: tuple[int, ...]) -> Optional[list[Any]]:
        if not isinstance(token, str) or not token or len(token) > 8192:
            return None
        try:
            payload = self._verified(purpose, token)
        except (ValueError, TypeError, zlib.error):
            return None
        if not isinstance(payload, list) or len(payload) not in sizes or not all(map(_is_id, payload[:2])):
            return None
        return payload

    def _verified(self, purpose: str, token: str) -> Any:
        """The payload of a token signed for ``purpose`` with our key; ValueError for any other.

        What ``URLSafeSerializer.loads`` does for the tokens it makes
        (``value.signature``, the value base64 JSON, zlib-compressed when it
        starts with a dot), in a few calls instead of some fifty: every pixel
        and click on the tracking server and the relay checks one. A
        signature is compared in its canonical form only."""
        value, _, signature = token.encode("ascii").rpartition(b".")
        expected = base64.urlsafe_b64encode(hmac.digest(self._keys[purpose], value, "sha1")).rstrip(b"=")
        if not value or not hmac.compare_digest(expected, signature):
            raise ValueError("not signed with this installation's secret for this purpose")
        compressed = value[:1] == b"."
        data = value[1:] if compressed else value
        data = base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
        return json.loads(zlib.decompress(data) if compressed else data)

    def open_token(self, campaign_uid: str, send_id: Id) -> str:
        return self._dump("open", campaign_uid, [send_id])

    def click_token(self, campaign_uid: str, send_id: Id, url: str) -> str:
        if not is_trackable(url):
            raise ValueError(f"only http(s) links are tracked, not {url!r}")
        return self._dump("click", campaign_uid, [send_id, url])

    def unsubscribe_token(self, campaign_uid: str, lead_id: Id, email: str) -> str:
        if not isinstance(email, str) or "@" not in email:
            raise ValueError(f"an unsubscribe token needs the address it was sent to, not {email!r}")
        return self._dump("unsubscribe", campaign_uid, [lead_id, email])

    def read_open(self, token: object) -> Optional[OpenClaim]:
        """The claim a genuine open token makes, or None for anything else."""
        payload = self._load("open", token, (2,))
        return OpenClaim(_uid(payload[0]), payload[1]) if payload else None

    def read_click(self, token: object) -> Optional[ClickClaim]:
        """The claim a genuine click token makes, or None; the URL is one we signed."""
        payload = self._load("click", token, (3,))
        if not payload or not isinstance(payload[2], str) or not is_trackable(payload[2]):
            return None
        return ClickClaim(_uid(payload[0]), payload[1], payload[2])

    def read_unsubscribe(self, token: object) -> Optional[UnsubscribeClaim]:
        """The claim of a genuine unsubscribe token (release 0.1's carry no address)."""
        payload = self._load("unsubscribe", token, (2, 3))
        if not payload:
            return None
        if len(payload) == 2:
            return UnsubscribeClaim(None, payload[1], None)
        uid, email = _uid(payload[0]), payload[2]
        if uid is None or not isinstance(email, str) or "@" not in email:
            return None
        return UnsubscribeClaim(uid, payload[1], email)

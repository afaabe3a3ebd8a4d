"""DKIM: every message signed with the sender domain's key, and the DNS record that proves it.

Since February 2024 Gmail and Yahoo refuse bulk mail without a DKIM
signature aligned with the From domain, so the engine signs every message
whose From domain has a key here (dkimpy: rsa-sha256, relaxed/relaxed). The
signature covers From, To, Subject, Date, Message-ID, List-Unsubscribe and
List-Unsubscribe-Post (RFC 8058 says the one-click headers must be signed),
and Reply-To, List-Id, Feedback-ID and the MIME headers when present.

Keys are made by ``mailbranch dkim new --domain D --selector S``: a 2048-bit
RSA key (``cryptography``), kept like the other secrets of the installation,
owner-only (0600), at ``$MAILBRANCH_HOME/dkim/<domain>/<selector>.pem``; the
newest key made for a domain is the one used (``active`` names it), and the
command prints the TXT record to publish at ``<selector>._domainkey.<domain>``.

Speed: dkimpy does RSA in pure Python, so one signature costs about 15 ms of
one core (``bench/bench_delivery.py`` prints it); that is the price of a
kept library, measured rather than hidden.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import dkim

from engine.store.private_files import private_dir, write_private_file

#: What is signed, in this order; headers the message lacks are left out.
SIGNED_HEADERS = (b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe",
                  b"List-Unsubscribe-Post", b"Reply-To", b"List-Id", b"Feedback-ID", b"MIME-Version",
                  b"Content-Type")
KEY_BITS = 2048
_SELECTOR = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ACTIVE = "active"


class DkimError(ValueError):
    """A DKIM key that cannot be made, read or used; one sentence."""


def key_dir(home: Optional[Path] = None) -> Path:
    from engine.runtime.home import mailbranch_home

    return (home or mailbranch_home()) / "dkim"


def check_selector(selector: str) -> str:
    text = selector.strip().lower()
    if not _SELECTOR.fullmatch(text):
        raise DkimError(f"the selector “{selector}” must be letters, digits and hyphens, such as mb2026")
    return text


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_pem: bytes

    def public_base64(self) -> str:
        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(self.private_pem, password=None)
        der = private.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode("ascii")

    @property
    def record_name(self) -> str:
        """Where the public key is published: ``<selector>._domainkey.<domain>``."""
        return f"{self.selector}._domainkey.{self.domain}"

    def record_value(self) -> str:
        """The TXT record's text, as one string (RFC 6376 3.6.1)."""
        return f"v=DKIM1; k=rsa; p={self.public_base64()}"

    def zone_line(self) -> str:
        """The record as a zone-file line, split into quoted strings of at most 255 characters
        (one TXT string cannot hold more; DNS joins them back)."""
        value = self.record_value()
        parts = " ".join(f'"{value[i:i + 255]}"' for i in range(0, len(value), 255))
        return f"{self.record_name}. IN TXT ( {parts} )"


def new_key(domain: str, selector: str, home: Optional[Path] = None, bits: int = KEY_BITS) -> DkimKey:
    """Make a key for ``domain``, keep it owner-only and make it the one the domain signs with."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from engine.delivery.identity import SenderError, check_domain

    try:
        domain = check_domain(domain, "The DKIM domain")
    except SenderError as exc:
        raise DkimError(str(exc)) from None
    selector = check_selector(selector)
    folder = key_dir(home) / domain
    path = folder / f"{selector}.pem"
    if path.exists():
        raise DkimError(f"a key with the selector {selector} already exists for {domain}; choose a new selector "
                        "(keys are never overwritten: its record may still be published)")
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    private_dir(key_dir(home))
    private_dir(folder)
    write_private_file(path, pem)
    write_private_file(folder / _ACTIVE, selector.encode("ascii"))
    return DkimKey(domain, selector, pem)


def load_key(domain: str, home: Optional[Path] = None) -> Optional[DkimKey]:
    """The key ``domain`` signs with, or None when it has none.

    Read again only when its ``active`` file changes (one ``stat`` per message), so
    a key made with ``mailbranch dkim new`` is used by a running engine at once."""
    try:
        stamp: Optional[int] = (key_dir(home) / domain.lower() / _ACTIVE).stat().st_mtime_ns
    except OSError:
        stamp = None
    return _load_key(domain.lower(), home, stamp)


@lru_cache(maxsize=64)
def _load_key(domain: str, home: Optional[Path], stamp: Optional[int]) -> Optional[DkimKey]:
    if stamp is None:
        return None
    folder = key_dir(home) / domain
    try:
        selector = (folder / _ACTIVE).read_text(encoding="ascii").strip()
        pem = (folder / f"{selector}.pem").read_bytes()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError) as exc:
        raise DkimError(f"the DKIM key of {domain} cannot be read ({exc})") from None
    return DkimKey(domain, selector, pem)


def sign(raw: bytes, key: DkimKey) -> bytes:
    """The message with its ``DKIM-Signature`` header first."""
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    present = [h for h in SIGNED_HEADERS if h == b"From" or (b"\r\n" + h.lower() + b":") in b"\r\n" + head]
    try:
        signature = dkim.sign(raw, key.selector.encode("ascii"), key.domain.encode("ascii"), key.private_pem,
                              canonicalize=(b"relaxed", b"relaxed"), include_headers=present)
    except dkim.DKIMException as exc:
        raise DkimError(f"the message could not be DKIM-signed for {key.domain}: {exc}") from None
    return signature + raw


class DkimSigner:
    """Signs each message with the key of its From domain, when that domain has one."""

    def __init__(self, home: Optional[Path] = None) -> None:
        self.home = home

    def key_for(self, domain: str) -> Optional[DkimKey]:
        return load_key(domain, self.home)

    def sign(self, raw: bytes, domain: str) -> bytes:
        key = self.key_for(domain)
        return sign(raw, key) if key is not None else raw


def verify(raw: bytes, records: dict[str, str] | Callable[[str], Optional[str]]) -> bool:
    """dkimpy's verifier, with the published records served by ``records`` (name -> TXT text)."""
    lookup = records.get if isinstance(records, dict) else records

    def dnsfunc(name: bytes, timeout: int = 5) -> Optional[bytes]:
        value = lookup(name.decode("ascii").rstrip("."))
        return value.encode("ascii") if value is not None else None

    return bool(dkim.verify(raw, dnsfunc=dnsfunc))

"""Where the bounce mailbox is, and its password, kept like the SMTP password.

The mailbox is named by a URL, ``imaps://user@host[:port][/folder]``
(implicit TLS, port 993) or ``imap://user@host[:port][/folder]`` (STARTTLS,
port 143; in clear only to a server on this computer). The password never
needs a command line; it is taken from the first of:

1. the URL itself, best given in ``MAILBRANCH_BOUNCE_URL``;
2. the ``MAILBRANCH_BOUNCE_PASSWORD`` environment variable;
3. the system keyring (``mailbranch bounce-password`` stores it there);
4. ``bounce-password`` in the Mailbranch data folder (owner-only).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

from engine.runtime.home import mailbranch_home
from engine.store.private_files import write_private_file

log = logging.getLogger(__name__)

URL_ENV = "MAILBRANCH_BOUNCE_URL"
PASSWORD_ENV = "MAILBRANCH_BOUNCE_PASSWORD"
KEYRING_SERVICE = "mailbranch-bounce-imap"
PASSWORD_FILE = "bounce-password"
DEFAULT_POLL_SECONDS = 60.0


class BounceMailboxError(ValueError):
    """A bounce mailbox URL that cannot be used; the message says why."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class BounceMailboxSettings:
    host: str
    port: int
    username: str
    password: Optional[str] = None
    #: ``ssl`` (imaps://, implicit TLS) or ``starttls`` (imap://; plain only on loopback).
    tls: str = "ssl"
    folder: str = "INBOX"
    poll_seconds: float = DEFAULT_POLL_SECONDS
    #: A CA bundle to trust (a private CA, or a test's self-signed certificate).
    ca_file: Optional[str] = None

    @classmethod
    def from_url(cls, url: str, *, poll_seconds: float = DEFAULT_POLL_SECONDS,
                 ca_file: Optional[str] = None) -> BounceMailboxSettings:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise BounceMailboxError(f"the bounce mailbox URL is malformed ({exc})") from None
        if parts.scheme not in ("imap", "imaps"):
            raise BounceMailboxError("the bounce mailbox URL must start with imaps:// (or imap:// for STARTTLS), "
                                     "e.g. imaps://bounces@mail.shop.example")
        if not parts.hostname or not parts.username:
            raise BounceMailboxError("the bounce mailbox URL must name the account and the server: "
                                     "imaps://user@host")
        if poll_seconds <= 0:
            raise BounceMailboxError("the bounce mailbox poll interval must be a positive number of seconds")
        folder = unquote(parts.path.lstrip("/")) or "INBOX"
        return cls(parts.hostname, port or (993 if parts.scheme == "imaps" else 143), unquote(parts.username),
                   unquote(parts.password) if parts.password is not None else None,
                   "ssl" if parts.scheme == "imaps" else "starttls", folder, poll_seconds, ca_file)

    def describe(self) -> str:
        """The mailbox as messages show it: never the password."""
        scheme = "imaps" if self.tls == "ssl" else "imap"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.folder}"


def _keyring():
    try:
        import keyring
        from keyring.backends import fail

        return None if isinstance(keyring.get_keyring(), fail.Keyring) else keyring
    except Exception:  # noqa: BLE001 - an unusable keyring is the same as none
        return None


def password_file(home: Optional[Path] = None) -> Path:
    return (home or mailbranch_home()) / PASSWORD_FILE


def with_password(settings: BounceMailboxSettings, home: Optional[Path] = None) -> BounceMailboxSettings:
    """The settings with the password filled in from the environment, the keyring or the file."""
    if settings.password is not None:
        return settings
    password = os.environ.get(PASSWORD_ENV)
    keyring = None if password else _keyring()
    if keyring is not None:
        try:
            password = keyring.get_password(KEYRING_SERVICE, f"{settings.username}@{settings.host}")
        except Exception as exc:  # noqa: BLE001 - a locked keyring must not stop the engine
            log.warning("the keyring could not be read (%s)", type(exc).__name__)
    if not password:
        try:
            password = password_file(home).read_text(encoding="utf-8").rstrip("\r\n") or None
        except OSError:
            password = None
    return replace(settings, password=password) if password else settings


def store_password(settings: BounceMailboxSettings, password: str, home: Optional[Path] = None) -> str:
    """Keep the password in the keyring, else in the owner-only file; where it went."""
    keyring = _keyring()
    if keyring is not None:
        try:
            keyring.set_password(KEYRING_SERVICE, f"{settings.username}@{settings.host}", password)
            return "the keyring"
        except Exception as exc:  # noqa: BLE001 - fall back to the file
            log.warning("the keyring refused the password (%s); using the settings file", type(exc).__name__)
    path = password_file(home)
    write_private_file(path, password.encode("utf-8"))
    return str(path)

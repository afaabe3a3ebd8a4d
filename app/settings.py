"""The app's stored settings: what ``AppSettings`` holds and how it is kept.

Everything goes into QSettings except the SMTP password: a QSettings file
or registry entry is plain text anyone can read, so ``save()`` cuts the
password out of the outgoing-server URL and keeps it in the owner-only
password file the engine also reads (``engine.delivery.smtp_password``);
``load()`` puts it back. ``repr()`` masks it, so settings that end up in a
log do not carry it either. The dialog that edits these lives in
``app/settings_dialog.py``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from PySide6.QtCore import QSettings

from app.paths import data_dir
from engine.delivery.smtp_password import password_file, password_from_file, redact_url
from engine.runtime.home import mailbranch_home
from engine.store.private_files import write_private_file

MAX_RECENT = 8


def default_db_path() -> str:
    return str(mailbranch_home() / "mailbranch.db")


# -- the password, outside QSettings ----------------------------------------
def read_smtp_password() -> Optional[str]:
    return password_from_file(data_dir())


def write_smtp_password(password: Optional[str]) -> None:
    """Keep the password in the owner-only (0600) file; no password removes the file."""
    path = password_file(data_dir())
    if password:
        write_private_file(path, password.encode("utf-8"))
    else:
        path.unlink(missing_ok=True)


def split_password(url: str) -> tuple[str, Optional[str]]:
    """``smtp://u:p@h`` -> (``smtp://u@h``, ``p``); URLs without a password are returned as they are."""
    parts = urlsplit(url.strip())
    if not parts.scheme.lower().startswith("smtp") or parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


def join_password(url: str, password: Optional[str]) -> str:
    """Put a password back into ``smtp://user@host`` (only where the URL names a user and has none)."""
    if not password:
        return url
    parts = urlsplit(url.strip())
    if not parts.scheme.lower().startswith("smtp") or parts.username is None or parts.password is not None:
        return url
    user, host = parts.netloc.rpartition("@")[0], parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


# -- the settings ------------------------------------------------------------
@dataclass(repr=False)
class AppSettings:
    #: ``sandbox`` or an ``smtp://``, ``smtp+starttls://``, ``smtps://`` URL, password included.
    smtp_url: str = "sandbox"
    tracking_host: str = "127.0.0.1"
    tracking_port: int = 8025
    #: Base URL leads reach the tracking server at; empty: http://tracking_host:tracking_port.
    public_url: str = ""
    #: The public tracking relay readers' opens and clicks go through (docs/relay.md); empty: none.
    relay_url: str = ""
    db_path: str = field(default_factory=default_db_path)
    #: Campaign seconds per real second in a simulation (3600: an hour per second).
    speed: float = 3600.0
    recent_files: list[str] = field(default_factory=list)
    #: The default sender of campaigns whose flow has none (issue 11): From name and
    #: address, Reply-To, Return-Path domain; empty: none (the sandbox needs none).
    sender_name: str = ""
    sender_address: str = ""
    reply_to: str = ""
    return_path_domain: str = ""
    #: The mailbox bounces and complaints come back to, ``imaps://user@host`` (no password:
    #: that is kept as ``mailbranch bounce-password`` keeps it); empty: none is read.
    bounce_url: str = ""
    #: A password typed in Settings, stored by ``save()`` in the keyring or owner-only file; never in QSettings.
    bounce_password: str = ""
    #: Pace sending per recipient domain (docs/delivery.md); off: as fast as the server takes it.
    pacing: bool = True
    #: Warm-up: messages per provider on day one, growing 1.5x a day; 0: no warm-up.
    warmup_per_day: int = 0

    _KEYS = {"smtp_url": "delivery/smtp_url", "tracking_host": "tracking/host",
             "tracking_port": "tracking/port", "public_url": "tracking/public_url",
             "relay_url": "tracking/relay_url",
             "db_path": "storage/db_path", "speed": "simulation/speed", "recent_files": "files/recent",
             "sender_name": "sender/name", "sender_address": "sender/address", "reply_to": "sender/reply_to",
             "return_path_domain": "sender/return_path_domain", "bounce_url": "bounces/imap_url",
             "pacing": "delivery/pacing", "warmup_per_day": "delivery/warmup_per_day"}
    _SENDER = ("sender_name", "sender_address", "reply_to", "return_path_domain")

    def __repr__(self) -> str:
        def shown(name: str, value: Any) -> str:
            if name == "smtp_url":
                return redact_url(value)
            return "'****'" if name == "bounce_password" and value else repr(value)

        values = ", ".join(f"{f.name}={shown(f.name, getattr(self, f.name))}" for f in fields(self))
        return f"AppSettings({values})"

    @classmethod
    def load(cls, qsettings: QSettings) -> AppSettings:
        """Read what was saved; a missing or unreadable value keeps its default."""
        defaults = cls()

        def get(name: str) -> Any:
            return qsettings.value(cls._KEYS[name], getattr(defaults, name))

        def number(name: str, kind: type) -> Any:
            try:
                return kind(get(name))
            except (TypeError, ValueError):
                return getattr(defaults, name)

        smtp_url = str(get("smtp_url") or "sandbox")
        return cls(
            smtp_url=join_password(smtp_url, read_smtp_password()),
            tracking_host=str(get("tracking_host") or defaults.tracking_host),
            tracking_port=number("tracking_port", int),
            public_url=str(get("public_url") or ""),
            relay_url=str(get("relay_url") or "").strip(),
            db_path=str(get("db_path") or defaults.db_path),
            speed=number("speed", float),
            recent_files=recent_files(qsettings),
            **{name: str(get(name) or "").strip() for name in cls._SENDER},
            bounce_url=str(get("bounce_url") or "").strip(),
            pacing=str(get("pacing")).lower() not in ("false", "0"),  # QSettings hands bools back as text
            warmup_per_day=max(0, number("warmup_per_day", int)),
        )

    def save(self, qsettings: QSettings) -> None:
        bare_url, password = split_password(self.smtp_url)
        write_smtp_password(password)
        qsettings.setValue(self._KEYS["smtp_url"], bare_url)
        qsettings.setValue(self._KEYS["tracking_host"], self.tracking_host)
        qsettings.setValue(self._KEYS["tracking_port"], int(self.tracking_port))
        qsettings.setValue(self._KEYS["public_url"], self.public_url)
        qsettings.setValue(self._KEYS["relay_url"], self.relay_url)
        qsettings.setValue(self._KEYS["db_path"], self.db_path)
        qsettings.setValue(self._KEYS["speed"], float(self.speed))
        qsettings.setValue(self._KEYS["recent_files"], list(self.recent_files))
        for name in self._SENDER:
            qsettings.setValue(self._KEYS[name], getattr(self, name))
        qsettings.setValue(self._KEYS["bounce_url"], self.bounce_url)
        qsettings.setValue(self._KEYS["pacing"], bool(self.pacing))
        qsettings.setValue(self._KEYS["warmup_per_day"], int(self.warmup_per_day))
        if self.bounce_url and self.bounce_password:
            from engine.bounces.settings import BounceMailboxSettings, store_password

            store_password(BounceMailboxSettings.from_url(self.bounce_url), self.bounce_password)
        qsettings.sync()

    def default_sender(self) -> Optional[dict[str, str]]:
        """The flow-file ``sender`` object for flows that have none (None: no default set)."""
        if not self.sender_address:
            return None
        values = {"name": self.sender_name, "address": self.sender_address, "reply_to": self.reply_to,
                  "return_path_domain": self.return_path_domain}
        return {k: v for k, v in values.items() if v}

    def add_recent(self, path: str | os.PathLike[str]) -> None:
        self.recent_files = with_recent(self.recent_files, path)


# -- recent files (File > Open Recent), kept as they change -------------------
RECENT_KEY = AppSettings._KEYS["recent_files"]


def recent_files(qsettings: QSettings) -> list[str]:
    """The recent files, most recent first, as saved."""
    value = qsettings.value(RECENT_KEY, [])
    if isinstance(value, str):  # QSettings hands back a one-item list as a string
        value = [value] if value else []
    return [str(p) for p in value or []][:MAX_RECENT]


def with_recent(files: list[str], path: str | os.PathLike[str]) -> list[str]:
    """``path`` first, then the others; files that no longer exist are forgotten; at most eight."""
    first = str(Path(path).expanduser().resolve())
    rest = [p for p in files if str(Path(p).expanduser().resolve()) != first]
    return [p for p in [first, *rest] if Path(p).is_file()][:MAX_RECENT]


def remember_recent(qsettings: QSettings, path: str | os.PathLike[str]) -> None:
    """Put a file just opened or saved first in the saved list."""
    qsettings.setValue(RECENT_KEY, with_recent(recent_files(qsettings), path))


# -- validation shared by the dialog ----------------------------------------
def check_public_url(url: str) -> Optional[str]:
    """None when fine (empty is fine), else a sentence saying what to write."""
    text = url.strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return (f"The public URL {text!r} must start with http:// or https:// and name a host, "
                "for example https://track.example.com.")
    return None


def check_db_path(path: str) -> Optional[str]:
    text = path.strip()
    if not text:
        return "Choose where the database lives."
    if text.startswith(("postgresql://", "postgresql+psycopg://", "sqlite:")):
        return None
    parent = Path(text).expanduser().parent
    if not parent.is_dir():
        return f"The folder {str(parent)!r} for the database does not exist; choose another place."
    return None

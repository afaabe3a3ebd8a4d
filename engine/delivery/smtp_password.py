"""Where the SMTP password comes from, so that it never has to be typed on a command line.

A password in a command's arguments can be read by every user of the
computer (``ps``, ``/proc/<pid>/cmdline``); one in an error message ends up
in logs, screenshots and bug reports. So the outgoing-server URL only needs
to name the account (``smtp://user@host``), and the password is taken from
the first of these that has one:

1. the URL itself, best given in ``MAILBRANCH_SMTP_URL`` (the environment
   of a process is private to its user); on the command line it works but
   ``mailbranch`` warns that others can see it;
2. the ``MAILBRANCH_SMTP_PASSWORD`` environment variable;
3. the operating system's keyring (``mailbranch smtp-password`` stores it
   there); where there is none, as on most servers and CI machines, this
   step is skipped quietly;
4. the settings file the desktop app keeps: ``smtp-password`` in the
   Mailbranch data folder, readable by its owner only.

``redact_url`` is what any message shows instead of a URL.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from engine.runtime.home import mailbranch_home
from engine.store.private_files import write_private_file

if TYPE_CHECKING:
    from engine.delivery.smtp import SmtpSettings

log = logging.getLogger(__name__)

PASSWORD_ENV = "MAILBRANCH_SMTP_PASSWORD"
URL_ENV = "MAILBRANCH_SMTP_URL"
KEYRING_SERVICE = "mailbranch-smtp"
#: The app's settings file for the password, in the data folder (mode 0600).
PASSWORD_FILE = "smtp-password"

_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>.*)@(?P<rest>[^@]*)$", re.DOTALL)


class PasswordStoreError(Exception):
    """The password could not be stored; the message says where else to put it."""


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``****``: ``smtp://bob:****@host:587``.

    Works on malformed URLs too (they are the ones that end up in error
    messages): everything between ``://`` and the last ``@`` after the
    first ``:`` is hidden, whatever characters it holds.
    """
    match = _USERINFO.match(url)
    if match is None or ":" not in match["userinfo"]:
        return url
    user = match["userinfo"].split(":", 1)[0]
    return f"{match['scheme']}{user}:****@{match['rest']}"


def has_password(url: str) -> bool:
    return redact_url(url) != url


def keyring_account(username: str, host: str) -> str:
    """The keyring entry's user name: the login and the server, since one login may exist on many."""
    return f"{username}@{host}"


def _keyring():
    """The keyring module, or None when it is missing or has no usable backend here."""
    try:
        import keyring
        from keyring.backends import fail
    except Exception:  # noqa: BLE001 - an unusable keyring is the same as none
        return None
    try:
        if isinstance(keyring.get_keyring(), fail.Keyring):
            return None
    except Exception:  # noqa: BLE001
        return None
    return keyring


def password_from_keyring(username: str, host: str) -> Optional[str]:
    """The stored password, or None (none stored, no keyring, or the keyring failed: logged, not raised)."""
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, keyring_account(username, host))
    except Exception as exc:  # noqa: BLE001 - a locked or broken keyring must not stop sending
        log.warning("the keyring could not be read (%s); looking for the SMTP password elsewhere",
                    type(exc).__name__)
        return None


def password_file(home: Optional[Path] = None) -> Path:
    return (home or mailbranch_home()) / PASSWORD_FILE


def password_from_file(home: Optional[Path] = None) -> Optional[str]:
    try:
        text = password_file(home).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        log.warning("the SMTP password file cannot be read (%s)", exc.strerror or type(exc).__name__)
        return None
    return text.rstrip("\r\n") or None


def find_password(username: str, host: str, home: Optional[Path] = None) -> tuple[Optional[str], str]:
    """The password for this login and where it was found ("" when nowhere)."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env, PASSWORD_ENV
    from_keyring = password_from_keyring(username, host)
    if from_keyring:
        return from_keyring, "the keyring"
    from_file = password_from_file(home)
    if from_file:
        return from_file, str(password_file(home))
    return None, ""


def with_password(settings: SmtpSettings, home: Optional[Path] = None) -> SmtpSettings:
    """The settings with the password filled in when the URL names a user but carries none."""
    if settings.sandbox or not settings.username or settings.password is not None:
        return settings
    password, _where = find_password(settings.username, settings.host, home)
    return replace(settings, password=password) if password else settings


def store_password(username: str, host: str, password: str, home: Optional[Path] = None) -> str:
    """Keep the password in the keyring, else in the owner-only settings file; where it went."""
    keyring = _keyring()
    if keyring is not None:
        try:
            keyring.set_password(KEYRING_SERVICE, keyring_account(username, host), password)
            return "the keyring"
        except Exception as exc:  # noqa: BLE001 - fall back to the file, say so
            log.warning("the keyring refused the password (%s); using the settings file", type(exc).__name__)
    path = password_file(home)
    try:
        write_private_file(path, password.encode("utf-8"))
    except OSError as exc:
        raise PasswordStoreError(f"The password cannot be written to {path} ({exc.strerror or exc}); "
                                 f"set {PASSWORD_ENV} instead.") from exc
    return str(path)


def forget_password(username: str, host: str, home: Optional[Path] = None) -> list[str]:
    """Remove the password from the keyring and the settings file; the places it was removed from."""
    removed = []
    keyring = _keyring()
    if keyring is not None:
        try:
            if keyring.get_password(KEYRING_SERVICE, keyring_account(username, host)) is not None:
                keyring.delete_password(KEYRING_SERVICE, keyring_account(username, host))
                removed.append("the keyring")
        except Exception as exc:  # noqa: BLE001
            log.warning("the keyring could not be changed (%s)", type(exc).__name__)
    path = password_file(home)
    if path.exists():
        path.unlink()
        removed.append(str(path))
    return removed

"""The two secrets a relay needs, and where each lives.

- The installation's **tracking secret** (``tracking.secret`` in the data
  folder) signs every pixel, link and unsubscribe token. The relay checks
  tokens with it, so it must be a copy of the desktop's own file.
- The **sync secret** (``relay-sync.secret``), made once per installation,
  lets the desktop pull events. It is separate so that a relay's copy of one
  cannot be used as the other: whoever reads the sync secret cannot forge a
  link, and the tracking secret does not open the event log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

from engine.delivery.tracking_tokens import load_or_create_secret
from engine.runtime.home import ensure_home

SYNC_FILE = "relay-sync.secret"
TRACKING_FILE = "tracking.secret"


class RelaySecretError(Exception):
    """A secret file the relay needs is missing or unusable."""


def installation_sync_secret() -> bytes:
    """This installation's sync secret, made on first use (owner-only file)."""
    return load_or_create_secret(ensure_home() / SYNC_FILE)


def installation_files() -> tuple[Path, Path]:
    """(tracking secret, sync secret) of this installation, both made if missing."""
    home = ensure_home()
    load_or_create_secret(home / TRACKING_FILE)
    load_or_create_secret(home / SYNC_FILE)
    return home / TRACKING_FILE, home / SYNC_FILE


def read_copied_secret(path: Union[str, Path], what: str) -> bytes:
    """A secret copied to the relay from the desktop: never made here (a new one would match nothing)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError as exc:
        raise RelaySecretError(f"cannot read the {what} at {path} ({exc.strerror or exc}); copy it from the "
                               "desktop as docs/relay.md says") from None
    if len(text) < 32:
        raise RelaySecretError(f"the {what} at {path} is too short to be a Mailbranch secret; copy the "
                               "desktop's file again")
    return text.encode("ascii")

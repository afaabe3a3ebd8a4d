"""Where this installation keeps what outlives a campaign: the tracking secret."""

from __future__ import annotations

import os
from pathlib import Path

from engine.delivery.tracking_tokens import TrackingTokens, load_or_create_secret
from engine.store.private_files import private_dir


def mailbranch_home() -> Path:
    """``$MAILBRANCH_HOME``, else ``$XDG_DATA_HOME/mailbranch`` (``~/.local/share/mailbranch``)."""
    if os.environ.get("MAILBRANCH_HOME"):
        return Path(os.environ["MAILBRANCH_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mailbranch"


def ensure_home() -> Path:
    """The data folder, created owner-only (0700) on first use.

    It holds the tracking secret, the app's database and the SMTP password
    file: other users of the computer have no business listing it.
    """
    return private_dir(mailbranch_home())


def installation_tokens() -> TrackingTokens:
    """Tracking tokens signed with the secret made once for this installation."""
    return TrackingTokens(load_or_create_secret(ensure_home() / "tracking.secret"))

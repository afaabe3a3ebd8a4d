"""Where this installation keeps what outlives a campaign: the tracking secret."""

from __future__ import annotations

import os
from pathlib import Path

from engine.delivery.tracking_tokens import TrackingTokens, load_or_create_secret


def mailbranch_home() -> Path:
    """``$MAILBRANCH_HOME``, else ``$XDG_DATA_HOME/mailbranch`` (``~/.local/share/mailbranch``)."""
    if os.environ.get("MAILBRANCH_HOME"):
        return Path(os.environ["MAILBRANCH_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mailbranch"


def installation_tokens() -> TrackingTokens:
    """Tracking tokens signed with the secret made once for this installation."""
    home = mailbranch_home()
    home.mkdir(parents=True, exist_ok=True)
    return TrackingTokens(load_or_create_secret(home / "tracking.secret"))

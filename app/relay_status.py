"""The public tracking relay's state in one line: reachable, last sync, events waiting.

A marketer running through the relay needs to know that opens and clicks
still arrive: a relay that stopped answering, or a desktop that has not
synced for hours, means conditions are not seeing what readers do. The line
asks the relay itself (``GET /sync/status`` with this installation's sync
secret): the relay knows when this installation last pulled and how many
events it has not acknowledged yet. No engine round trip is needed, so the
line is right even while the engine process restarts.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urlsplit

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QWidget

from engine.relay.sync import RelayClient, RelayError


@dataclass
class RelayState:
    url: str
    reachable: Optional[bool] = None  # None: not asked yet
    last_sync: Optional[int] = None  # ms; when this installation last pulled
    waiting: Optional[int] = None
    error: str = ""


def _ago(ms: Optional[int], now_ms: int) -> str:
    if ms is None:
        return "never"
    seconds = max(0, (now_ms - ms) // 1000)
    if seconds < 60:
        return "just now" if seconds < 5 else f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86400} days ago"


def describe(state: Optional[RelayState], now_ms: int) -> str:
    """The line the user reads."""
    if state is None:
        return "Tracking: local only (links point to this computer)"
    host = urlsplit(state.url).hostname or state.url
    if state.reachable is None:
        return f"Relay {host}: checking…"
    if not state.reachable:
        return f"Relay {host}: not reachable ({state.error})"
    waiting = state.waiting or 0
    return (f"Relay {host}: reachable · last sync {_ago(state.last_sync, now_ms)} · "
            f"{waiting} event{'s' if waiting != 1 else ''} waiting")


async def fetch_state(url: str, secret: str, ca_file: Optional[str] = None) -> RelayState:
    """Ask the relay; a relay that cannot be reached or refuses the secret is a state, not an error."""
    try:
        client = RelayClient(url, secret, ca_file=ca_file, timeout=5.0)
    except RelayError as exc:
        return RelayState(url, False, error=str(exc))
    try:
        status = await client.status()
    except RelayError as exc:
        return RelayState(url, False, error=str(exc))
    finally:
        await client.close()
    return RelayState(client.url, True, status.get("pulled_at"), int(status.get("waiting") or 0))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class RelayStatusLabel(QLabel):
    """Shows ``describe`` of the relay (or "local only" without one), refreshed every ``interval_ms``."""

    def __init__(self, url: str = "", secret: str = "", *, interval_ms: int = 15_000,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("relayStatus")
        self.url, self.secret = url.strip(), secret
        self.state: Optional[RelayState] = RelayState(self.url) if self.url else None
        self._task: Optional[asyncio.Future] = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._poll)
        self._show()

    def set_relay(self, url: str, secret: str) -> None:
        """A new relay (or none: empty URL) from the settings."""
        self.url, self.secret = url.strip(), secret
        self.state = RelayState(self.url) if self.url else None
        self._show()
        self._poll()

    def start(self) -> None:
        self.timer.start()
        self._poll()

    def _poll(self) -> None:
        if not self.url or (self._task is not None and not self._task.done()):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop runs (a dialog shown before the app's loop): the next tick asks
        self._task = asyncio.ensure_future(self.refresh())

    async def refresh(self) -> Optional[RelayState]:
        if not self.url:
            self.state = None
        else:
            self.state = await fetch_state(self.url, self.secret)
        self._show()
        return self.state

    def _show(self) -> None:
        text = describe(self.state, _now_ms())
        self.setText(text)
        self.setToolTip(self.state.error if self.state and self.state.error else
                        "Opens and clicks reach the desktop through the public relay (docs/relay.md)"
                        if self.state else "Set a relay URL in Settings to count opens and clicks from anywhere")

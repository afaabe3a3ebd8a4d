"""The engine's clock, injectable so a simulation runs days in milliseconds.

Both clocks speak integer milliseconds since the Unix epoch. The engine calls
``reach(t)`` before it handles something due at ``t``: a simulated clock jumps
there (a discrete-event simulation), the system clock is already past it.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    simulated: bool

    def now(self) -> int: ...

    def reach(self, at: int) -> None: ...


class SystemClock:
    simulated = False

    def now(self) -> int:
        return int(time.time() * 1000)

    def reach(self, at: int) -> None:
        """Real time cannot be moved; work that is overdue happens now."""


class SimulatedClock:
    simulated = True

    def __init__(self, start: int = 1_767_225_600_000) -> None:  # 2026-01-01T00:00Z
        self._now = start

    def now(self) -> int:
        return self._now

    def reach(self, at: int) -> None:
        if at > self._now:
            self._now = at

    def advance(self, milliseconds: int) -> None:
        self._now += max(0, milliseconds)

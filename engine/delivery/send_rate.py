"""Retry delays and the send-rate limit of the SMTP sender."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable


def backoff(attempt: int, *, base: float = 30.0, cap: float = 3600.0, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = first retry).

    Exponential with full jitter (a uniform draw below ``base * 2**(attempt-1)``,
    capped), so that many messages failing together do not all come back at
    the same instant.
    """
    if attempt < 1:
        return 0.0
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    return ceiling * rng()


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``burst``.

    Waiters are served in arrival order (one lock), so the limit holds
    across concurrent senders. Clock and sleep are injectable so tests can
    check the schedule without waiting on the wall clock.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1

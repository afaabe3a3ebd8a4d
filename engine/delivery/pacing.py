"""Pacing per recipient domain: how fast, and how many at once, mail goes to each provider.

Gmail, Microsoft and Yahoo each judge a sender on its own behaviour towards
them: a burst of thousands of messages from a new sender is throttled
(``421 4.7.0 [TS01]``, ``451 4.7.650``) or sent to spam. So the outbox keeps a
lane per provider (``gmail.com`` with ``googlemail.com``; ``outlook.com``
with ``hotmail.com``, ``live.com``, ``msn.com``; ``yahoo.com`` with
``ymail.com`` and ``aol.com``) and one per other recipient domain, each with:

- a rate (messages a second, on average) and a concurrency (messages on the
  wire at once);
- optionally a warm-up ramp: ``first_day`` messages on the first day, each
  day ``growth`` times the day before, up to ``ceiling``; a new sending
  domain or IP earns its reputation this way.

A message the lane cannot take soon (its rate slot is more than ``horizon``
seconds away, or today's warm-up allowance is spent) is not held: it goes
back to the queue with the time it may go, unharmed and without spending a
try. Nothing here marks a send delivered: only the server's 250 does, so a
token keeps standing on its email node while its message waits for its
lane (SEMANTICS 9).

Time is injectable (``clock_ms``, ``sleep``, ``today``): tests watch the
schedule with a fake clock instead of waiting.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Optional, TypeVar

from engine.delivery.smtp import SendOutcome

T = TypeVar("T")

#: Providers whose domains share one lane: their limits are per provider, not per domain.
PROVIDER_DOMAINS = {
    "gmail.com": ("gmail.com", "googlemail.com"),
    "outlook.com": ("outlook.com", "hotmail.com", "live.com", "msn.com"),
    "yahoo.com": ("yahoo.com", "ymail.com", "aol.com"),
}
DEFAULT = "default"


class PacingError(ValueError):
    """A pacing setting that cannot be used; the message says why in one sentence."""


@dataclass(frozen=True)
class Pace:
    #: Messages a second on average (None: no limit of its own).
    rate_per_second: Optional[float] = None
    #: Messages on the wire at once (None: only the outgoing server's connection pool).
    connections: Optional[int] = None

    def describe(self) -> str:
        rate = f"{self.rate_per_second:g}/s" if self.rate_per_second else "no rate limit"
        return rate + (f", {self.connections} at once" if self.connections else "")


#: Starting points that keep a new sender out of the big providers' throttles; the
#: marketer's provider (or ESP) may allow more, and ``--pace`` says so.
DEFAULT_PACES: dict[str, Pace] = {
    "gmail.com": Pace(10.0, 5),
    "outlook.com": Pace(3.0, 2),
    "yahoo.com": Pace(5.0, 3),
    DEFAULT: Pace(None, None),
}


@dataclass(frozen=True)
class WarmUp:
    """Messages a day per lane: ``first_day``, then ``growth`` times more each day, up to ``ceiling``."""

    first_day: int
    growth: float = 1.5
    ceiling: Optional[int] = None
    #: Day one (None: the first day this database sent a real email).
    start: Optional[dt.date] = None

    def allowance(self, day_index: int) -> Optional[int]:
        """Messages allowed on day ``day_index`` (0 = day one); None once the ramp no longer limits."""
        value = self.first_day * self.growth ** max(0, day_index)
        if self.ceiling is not None and value >= self.ceiling:
            return None
        return int(min(value, 2**62))


@dataclass(frozen=True)
class PacingSettings:
    paces: dict[str, Pace] = field(default_factory=lambda: dict(DEFAULT_PACES))
    warmup: Optional[WarmUp] = None
    #: A message whose slot is further away than this goes back to the queue instead of waiting.
    horizon_seconds: float = 20.0

    def with_pace(self, domain: str, pace: Pace) -> PacingSettings:
        return replace(self, paces={**self.paces, lane_name(domain): pace})


def lane_name(domain: str) -> str:
    """The lane a recipient domain belongs to: its provider's, or the domain itself."""
    domain = domain.strip().lower().rstrip(".")
    for provider, domains in PROVIDER_DOMAINS.items():
        if domain in domains:
            return provider
    return domain


def parse_pace(text: str) -> tuple[str, Pace]:
    """``gmail.com=10/s,5`` (rate, connections), ``outlook.com=2/s``, ``default=,10``."""
    name, eq, value = text.partition("=")
    name = name.strip().lower()
    if not eq or not name:
        raise PacingError(f"--pace {text!r} must look like DOMAIN=RATE/s,CONNECTIONS, e.g. gmail.com=10/s,5")
    rate_text, _, connections_text = value.partition(",")
    rate_text = rate_text.strip().removesuffix("/s").strip()
    try:
        rate = float(rate_text) if rate_text else None
        connections = int(connections_text) if connections_text.strip() else None
    except ValueError:
        raise PacingError(f"--pace {text!r}: the rate must be a number a second and the connections a whole "
                          "number, e.g. gmail.com=10/s,5") from None
    if (rate is not None and not (0 < rate < math.inf)) or (connections is not None and connections < 1):
        raise PacingError(f"--pace {text!r}: the rate and the connections must be positive")
    return (DEFAULT if name == DEFAULT else lane_name(name)), Pace(rate, connections)


def parse_warmup(text: str) -> WarmUp:
    """``50`` or ``50,1.5`` or ``50,1.5,20000`` (first day, daily growth, ceiling)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        first = int(parts[0])
        growth = float(parts[1]) if len(parts) > 1 and parts[1] else 1.5
        ceiling = int(parts[2]) if len(parts) > 2 and parts[2] else None
    except (ValueError, IndexError):
        raise PacingError(f"--warmup {text!r} must look like FIRST_DAY[,GROWTH[,CEILING]], e.g. 50,1.5,20000"
                          ) from None
    if first < 1 or not (1 <= growth < 100) or len(parts) > 3 or (ceiling is not None and ceiling < first):
        raise PacingError(f"--warmup {text!r}: the first day must be at least 1 message, the growth between 1 "
                          "and 100, and the ceiling at least the first day")
    return WarmUp(first, growth, ceiling)


@dataclass
class Deferred:
    """The lane cannot take the message soon: try it again at ``until_ms``, and why."""

    until_ms: int
    reason: str


@dataclass
class _Lane:
    name: str
    pace: Pace
    semaphore: Optional[asyncio.Semaphore]
    next_free_ms: float = 0.0
    in_flight: int = 0
    day: Optional[dt.date] = None
    sent_today: int = 0
    deferred: int = 0


class DomainPacer:
    """One lane per provider or domain; ``run`` sends one message through its lane."""

    def __init__(self, settings: Optional[PacingSettings] = None, *,
                 clock_ms: Callable[[], float] = lambda: time.time() * 1000,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 today: Callable[[], dt.date] = dt.date.today) -> None:
        self.settings = settings or PacingSettings()
        self.clock_ms = clock_ms
        self.sleep = sleep
        self.today = today
        self.lanes: dict[str, _Lane] = {}
        #: Day one of the warm-up when the settings do not say (set from the database).
        self.warmup_start: Optional[dt.date] = None
        #: Something a status display shows changed since ``as_json`` was last read.
        self.changed = True

    def lane(self, address: str) -> _Lane:
        name = lane_name(address.rpartition("@")[2])
        lane = self.lanes.get(name)
        if lane is None:
            pace = self.settings.paces.get(name) or self.settings.paces.get(DEFAULT) or Pace()
            lane = self.lanes[name] = _Lane(name, pace, asyncio.Semaphore(pace.connections)
                                            if pace.connections else None)
        return lane

    def seed(self, sent_today: dict[str, int], first_day: Optional[dt.date]) -> None:
        """What this installation already sent today, per recipient domain, and its first sending day."""
        self.warmup_start = first_day
        for domain, count in sent_today.items():
            lane = self.lane("x@" + domain)
            self._roll_day(lane)
            lane.sent_today += count

    def allowance_today(self) -> Optional[int]:
        warmup = self.settings.warmup
        if warmup is None:
            return None
        start = warmup.start or self.warmup_start or self.today()
        return warmup.allowance((self.today() - start).days)

    def _roll_day(self, lane: _Lane) -> None:
        today = self.today()
        if lane.day != today:
            lane.day, lane.sent_today = today, 0

    def _next_midnight_ms(self) -> int:
        tomorrow = dt.datetime.combine(self.today() + dt.timedelta(days=1), dt.time())
        return int(tomorrow.timestamp() * 1000)

    def reserve(self, address: str) -> tuple[_Lane, float] | Deferred:
        """A slot in the address's lane (its lane and how many ms to wait for it), or a deferral."""
        lane = self.lane(address)
        self._roll_day(lane)
        allowed = self.allowance_today()
        if allowed is not None and lane.sent_today >= allowed:
            lane.deferred += 1
            self.changed = True
            return Deferred(self._next_midnight_ms(), f"the warm-up allows {allowed} messages to {lane.name} "
                                                      "today; the rest go tomorrow")
        now = self.clock_ms()
        wait = 0.0
        if lane.pace.rate_per_second:
            start = max(now, lane.next_free_ms)
            wait = start - now
            if wait > self.settings.horizon_seconds * 1000:
                lane.deferred += 1
                self.changed = True
                return Deferred(int(start), f"paced: {lane.name} takes {lane.pace.rate_per_second:g} messages a "
                                            "second")
            lane.next_free_ms = start + 1000 / lane.pace.rate_per_second
        lane.sent_today += 1
        self.changed = True
        return lane, wait

    async def run(self, address: str, send: Callable[[], Awaitable[T]],
                  accepted: Callable[[T], bool] = lambda _outcome: True) -> T | Deferred:
        """Send through the address's lane: wait for its rate slot and a place among its
        connections, then ``send()``; a slot too far away gives a ``Deferred`` instead."""
        reserved = self.reserve(address)
        if isinstance(reserved, Deferred):
            return reserved
        lane, wait = reserved
        try:
            if wait > 0:
                await self.sleep(wait / 1000)
            if lane.semaphore is not None:
                await lane.semaphore.acquire()
        except BaseException:  # cancelled while waiting its turn (a stop): it never went
            lane.sent_today -= 1
            raise
        lane.in_flight += 1
        try:
            outcome = await send()
        except BaseException:
            lane.sent_today -= 1
            raise
        finally:
            lane.in_flight -= 1
            if lane.semaphore is not None:
                lane.semaphore.release()
        if not accepted(outcome):
            lane.sent_today -= 1  # the day's allowance counts what the provider received
        return outcome

    def as_json(self) -> dict[str, Any]:
        """What ``mailbranch status`` shows: each lane's pace, today's count and allowance."""
        self.changed = False
        allowed = self.allowance_today()
        lanes = {name: {"pace": lane.pace.describe(), "in_flight": lane.in_flight, "sent_today": lane.sent_today,
                        "deferred": lane.deferred}
                 for name, lane in sorted(self.lanes.items())}
        configured = {name: pace.describe() for name, pace in sorted(self.settings.paces.items())}
        warmup = self.settings.warmup
        return {"paces": configured, "lanes": lanes, "allowance_today": allowed,
                "warmup": None if warmup is None else {
                    "first_day": warmup.first_day, "growth": warmup.growth, "ceiling": warmup.ceiling,
                    "start": (warmup.start or self.warmup_start or self.today()).isoformat()}}


def outcome_of(deferred: Deferred) -> PacedOutcome:
    """A deferral as the outbox's outcome: back to the queue until ``until_ms``, no try spent."""
    return PacedOutcome(ok=False, error=deferred.reason, scope="paced", until_ms=deferred.until_ms)


@dataclass(frozen=True)
class PacedOutcome(SendOutcome):
    """Not sent yet: the recipient's lane is full (rate or warm-up); queued again until ``until_ms``."""

    until_ms: int = 0


def seed_from_database(pacer: DomainPacer, db) -> None:
    """Start the day's counts from what this database already sent today, and the warm-up's
    day one from its first real send, so a restart does not hand out the day's allowance twice."""
    from engine.store.bulk import fetch_all

    midnight = dt.datetime.combine(pacer.today(), dt.time())
    since = int(midnight.timestamp() * 1000)
    counts: dict[str, int] = {}
    with db.session() as s:
        for (email,) in fetch_all(s, "SELECT l.email FROM sends s JOIN leads l ON l.id = s.lead_id WHERE"
                                     " s.status = 'sent' AND s.sent_at >= ?", (since,)):
            domain = (email or "").rpartition("@")[2].lower()
            counts[domain] = counts.get(domain, 0) + 1
        first = fetch_all(s, "SELECT MIN(sent_at) FROM sends WHERE status = 'sent'")[0][0]
    first_day = dt.datetime.fromtimestamp(first / 1000).date() if first else None
    pacer.seed(counts, first_day)

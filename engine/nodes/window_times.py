"""When a send window next opens, in a time zone, with daylight saving.

Pure functions over epoch milliseconds and ``zoneinfo``: an opening time that
does not exist that day (clocks jump forward) opens at the first instant
after the gap; one that exists twice (clocks fall back) opens at the first
(SEMANTICS 10).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
UTC = UTC


def minutes(text: object) -> Optional[int]:
    """``"09:30"`` -> 570; ``"24:00"`` (the end of the day, for ``to``) -> 1440; else None."""
    if text == "24:00":
        return 1440
    match = CLOCK.fullmatch(text) if isinstance(text, str) else None
    return int(match.group(1)) * 60 + int(match.group(2)) if match else None


@lru_cache(maxsize=512)
def zone(name: object) -> Optional[ZoneInfo]:
    """The IANA zone called ``name``, or None if there is no such zone."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _utc_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _opening(day: date, at_minute: int, tz: ZoneInfo) -> int:
    """The first instant on ``day`` when the local clock shows ``at_minute``, or
    right after it if the clock skips that time."""
    wall = datetime.combine(day, time()) + timedelta(minutes=at_minute)
    first = wall.replace(tzinfo=tz, fold=0)
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back == wall:
        return _utc_ms(first)
    # A gap: fold=0 reads the wall time with the offset before the jump, fold=1
    # with the one after; the jump itself lies between them. Find it to the ms.
    low = _utc_ms(wall.replace(tzinfo=tz, fold=1))
    high = _utc_ms(first)
    if low > high:
        low, high = high, low
    before = datetime.fromtimestamp(low / 1000, UTC).astimezone(tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle / 1000, UTC).astimezone(tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


def local_minute(at_ms: int, tz: ZoneInfo) -> tuple[date, int]:
    local = datetime.fromtimestamp(at_ms / 1000, UTC).astimezone(tz)
    return local.date(), local.hour * 60 + local.minute + (local.second * 1000 + local.microsecond // 1000) / 60000


def inside(at_ms: int, days: frozenset[int], start: int, end: int, tz: ZoneInfo) -> bool:
    """A listed day, local time in [start, end)."""
    day, minute = local_minute(at_ms, tz)
    return day.weekday() in days and start <= minute < end


def next_opening(at_ms: int, days: frozenset[int], start: int, end: int, tz: ZoneInfo) -> int:
    """``at_ms`` if the window is open then, else the instant it next opens."""
    if inside(at_ms, days, start, end, tz):
        return at_ms
    today, _ = local_minute(at_ms, tz)
    for offset in range(0, 9):
        day = today + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        opening = _opening(day, start, tz)
        if opening > at_ms:
            return opening
        if offset == 0:
            # Clocks fell back and the opening time came round again after the first one.
            wall = datetime.combine(day, time()) + timedelta(minutes=start)
            again = _utc_ms(wall.replace(tzinfo=tz, fold=1))
            if again > at_ms:
                return again
    raise ValueError("a window with no days never opens")  # validation keeps such windows from running

"""Durations as SEMANTICS section 1 writes them: seconds, or parts like ``1d12h``."""

from __future__ import annotations

import re

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([dhms])\s*")


class DurationError(ValueError):
    """A duration that cannot be read; the message says what is accepted."""


def parse_duration(value: object) -> float:
    """Return the duration in seconds.

    Accepts a number of seconds (int or float, not bool) or a string made of
    parts ``<number><unit>`` with units d, h, m, s, such as ``45s``, ``3d`` or
    ``1d12h``. A bare numeric string counts as seconds. Zero and negative
    values parse; whether they are allowed is validation's business.
    """
    if isinstance(value, bool):
        raise DurationError("a duration must be a number of seconds or text such as '3d' or '1d12h'")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise DurationError("a duration must be a number of seconds or text such as '3d' or '1d12h'")
    text = value.strip().lower()
    if not text:
        raise DurationError("the duration is empty; write for example '3d' or '12h'")
    try:
        return float(text)
    except ValueError:
        pass
    pos, total, seen = 0, 0.0, set()
    while pos < len(text):
        match = _PART.match(text, pos)
        if not match:
            raise DurationError(
                f"'{value}' is not a duration; write parts such as '45s', '30m', '12h', '3d' or '1d12h'"
            )
        number, unit = match.groups()
        if unit in seen:
            raise DurationError(f"'{value}' gives the unit '{unit}' twice")
        seen.add(unit)
        total += float(number) * _UNITS[unit]
        pos = match.end()
    return total


def duration_ms(value: object) -> int:
    """The duration in whole milliseconds, the engine's unit of time."""
    return int(round(parse_duration(value) * 1000))


def format_duration(seconds: float) -> str:
    """Write seconds the way a marketer reads them: ``1d12h``, ``45s``, ``0s``."""
    if seconds <= 0:
        return f"{seconds:g}s"
    rest = seconds
    parts = []
    for unit, size in _UNITS.items():
        if rest >= size:
            count = int(rest // size)
            parts.append(f"{count}{unit}")
            rest -= count * size
    if rest > 1e-9:
        parts.append(f"{rest:g}s" if not parts else f"{round(rest, 3):g}s")
    return "".join(parts)

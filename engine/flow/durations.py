"""Durations as SEMANTICS section 1 writes them: seconds, or parts like ``1d12h``."""

from __future__ import annotations

import math
import re

from engine.flow.text import shown

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([dhms])\s*", re.ASCII)
#: A plain number of seconds written as text: ASCII digits only, so "NaN",
#: "Infinity", "1_000" and digits of other scripts are not numbers here.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?", re.ASCII)

#: The longest wait a flow may hold (SEMANTICS 2 leaves the bound to us): a
#: campaign that waits longer than a year is a typo, and a bound keeps every
#: time the engine computes well inside its 64-bit milliseconds.
MAX_WAIT_SECONDS = 365 * 86400
#: The largest duration that parses at all (about 100 years): anything longer
#: is not a time the engine or a simulation can hold.
MAX_DURATION_SECONDS = 100 * 365 * 86400


class DurationError(ValueError):
    """A duration that cannot be read; the message says what is accepted."""


class DurationTooLongError(DurationError):
    """A duration beyond ``MAX_DURATION_SECONDS``, infinity included."""


def parse_duration(value: object) -> float:
    """Return the duration in seconds.

    Accepts a number of seconds (int or float, not bool) or a string made of
    parts ``<number><unit>`` with units d, h, m, s, such as ``45s``, ``3d`` or
    ``1d12h``. A bare numeric string counts as seconds. Zero and negative
    values parse; whether they are allowed is validation's business. NaN,
    infinity and anything beyond ``MAX_DURATION_SECONDS`` never parse: they
    would overflow the engine's clock instead of failing here with a sentence.
    """
    if isinstance(value, bool):
        raise DurationError("a duration must be a number of seconds or text such as '3d' or '1d12h'")
    if isinstance(value, (int, float)):
        return _bounded(value, value)
    if not isinstance(value, str):
        raise DurationError("a duration must be a number of seconds or text such as '3d' or '1d12h'")
    text = value.strip().lower()
    if not text:
        raise DurationError("the duration is empty; write for example '3d' or '12h'")
    if len(text) > 100:
        raise DurationError("a duration has at most 100 characters; write for example '3d' or '12h'")
    if _NUMBER.fullmatch(text):
        return _bounded(float(text), value)
    pos, total, seen = 0, 0.0, set()
    while pos < len(text):
        match = _PART.match(text, pos)
        if not match:
            raise DurationError(
                f"'{shown(value.strip())}' is not a duration; write parts such as '45s', '30m', '12h', '3d' or '1d12h'"
            )
        number, unit = match.groups()
        if unit in seen:
            raise DurationError(f"'{shown(value.strip())}' gives the unit '{unit}' twice")
        seen.add(unit)
        total += float(number) * _UNITS[unit]
        pos = match.end()
    return _bounded(total, value)


def _bounded(seconds: float, value: object) -> float:
    """``seconds`` as a float, or a DurationError for NaN, infinity or an absurd size."""
    try:
        result = float(seconds)
    except OverflowError:  # an int with hundreds of digits
        result = math.inf
    if math.isnan(result):
        raise DurationError("NaN is not a duration; write a number of seconds or text such as '3d'")
    if abs(result) > MAX_DURATION_SECONDS:
        if isinstance(value, str):
            written = f"'{shown(value.strip())}'"
        else:
            written = f"{result:g}" if math.isfinite(result) else "that number"
        raise DurationTooLongError(f"{written} is far too long to be a duration (more than "
                            f"{MAX_DURATION_SECONDS // (365 * 86400)} years)")
    return result + 0.0  # -0.0 becomes 0.0, so it never prints as "-0s"


def duration_ms(value: object) -> int:
    """The duration in whole milliseconds, the engine's unit of time."""
    return int(round(parse_duration(value) * 1000))


def format_duration(seconds: float) -> str:
    """Write seconds the way a marketer reads them: ``1d12h``, ``45s``, ``0s``."""
    if seconds <= 0:
        return f"{seconds:g}s"
    whole = int(seconds)
    fraction = round(seconds - whole, 3)
    if fraction >= 1:  # 59.9996 s rounds up to the next second
        whole, fraction = whole + 1, 0.0
    parts = []
    for unit, size in _UNITS.items():
        if whole >= size:
            count = whole // size
            parts.append(f"{count}{unit}")
            whole -= count * size
    if fraction:
        # A fraction of a second belongs to the seconds: 5m57.071s, not 5m57s0.071s.
        if parts and parts[-1].endswith("s") and not parts[-1].endswith("ms"):
            parts[-1] = f"{int(parts[-1][:-1]) + fraction:g}s"
        else:
            parts.append(f"{fraction:g}s")
    return "".join(parts) or "0s"

"""The limits a template must keep to: sizes, whole numbers, loop steps.

Checked before a value is built (see ``templates.py`` for where): a template
that asks for more than one email may hold stops with ``TemplateLimitError``,
whose message is one sentence for the marketer.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Optional

from jinja2.exceptions import SecurityError

#: The most characters one rendered template, or one value inside it, may hold
#: (about 2 MB): far above any real email, far below what hurts the engine.
MAX_CHARS = 2_000_000
#: The most loop steps and calls one render may take.
MAX_STEPS = 100_000
#: The largest whole number a template may compute, in bits (about 1,200 digits).
MAX_INT_BITS = 4_000
#: ``lipsum(n)`` paragraphs at most.
MAX_LIPSUM = 100
#: The longest subject, filled in: one header line of RFC 5322. A longer one
#: without spaces cannot be folded, and servers refuse it ("line too long").
MAX_SUBJECT_CHARS = 998

_STEPS: ContextVar[Optional[list[int]]] = ContextVar("mailbranch_template_steps", default=None)
_FORMAT_NUMBER = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


class TemplateLimitError(SecurityError):
    """A template asked for more than one email may hold; ``str()`` says what."""


def _too_long(size: int) -> TemplateLimitError:
    return TemplateLimitError(f"the template builds a text of {size:,} characters; one email holds at most "
                              f"{MAX_CHARS:,}")


def size_of(value: Any, depth: int = 0) -> int:
    """Roughly how many characters ``value`` prints as: what repeating or joining it costs."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        if depth >= 3:
            return 2 * len(value) + 2
        items = value.items() if isinstance(value, dict) else value
        total = 2
        for item in items:
            total += size_of(item, depth + 1) + 2
            if total > MAX_CHARS:
                break
        return total
    return 8


def check_size(value: Any) -> Any:
    """``value`` unchanged if it fits in one email, else ``TemplateLimitError``."""
    if isinstance(value, str) and len(value) > MAX_CHARS:
        raise _too_long(len(value))
    return value


def _check_int(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitError("the template computes a number too large for an email")


def _check_count(value: Any, what: str) -> None:
    """A width, repeat or count argument: at most ``MAX_CHARS``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_CHARS:
        written = f"{value:,.0f}" if abs(value) < 1e15 else "a huge number"
        raise TemplateLimitError(f"the template asks for {what} of {written}; one email holds at most "
                                 f"{MAX_CHARS:,} characters")


def _check_percent_format(fmt: str, args: Any) -> None:
    """``'%999999999d' % x`` would build the padding before anything could stop it."""
    values = args if isinstance(args, tuple) else (args,)
    for match in _FORMAT_NUMBER.finditer(fmt):
        for group in match.groups():
            if group == "*":
                for value in values:
                    _check_count(value, "a width")
            elif group:
                _check_count(int(group), "a width")


def _check_str_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``'{:999999999}'.format(x)``, and widths given as arguments (``'{:{}}'``)."""
    nested = False
    for _text, _field, spec, _conversion in string.Formatter().parse(fmt):
        if spec:
            nested = nested or "{" in spec
            for digits in _DIGITS.findall(spec):
                _check_count(int(digits), "a width")
    if nested:
        for value in (*args, *kwargs.values()):
            _check_count(value, "a width")


def _tick(steps: int = 1) -> None:
    counter = _STEPS.get()
    if counter is not None:
        counter[0] += steps
        if counter[0] > MAX_STEPS:
            raise TemplateLimitError(f"the template takes more than {MAX_STEPS:,} loop steps or calls to fill "
                                     "one email")


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """A loop's iterable, each step counted against the render's budget."""
    for item in iterable:
        _tick()
        yield item


def _sized(iterable: Iterable[Any]) -> Iterator[Any]:
    """What a lazy filter (``map``, ``select``...) yields, counted step by step and by
    size, so ``range(100000)|map('center', 2000000)|list`` stops at the limit
    instead of after 200 GB."""
    total = 0
    for item in iterable:
        _tick()
        total += size_of(item)
        if total > MAX_CHARS:
            raise _too_long(total)
        yield item

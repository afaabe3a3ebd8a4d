"""Text a flow may hold: valid Unicode, shown safely in messages.

JSON can spell a lone UTF-16 surrogate (``"\\ud800"``) and Python keeps it in a
``str``, but no file, database or email can store one: writing it raises
``UnicodeEncodeError`` far from where it came in. So the loader and the
validator look for them up front, and every message that quotes the user's
text goes through ``shown`` so that printing the message can never fail.
"""

from __future__ import annotations

import re
from typing import Optional

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")

#: How much of a user's text a message quotes.
SHOWN_CHARS = 60


def bad_character(text: str) -> Optional[int]:
    """The position of the first lone surrogate in ``text``, or None if it is valid Unicode."""
    if text.isascii():
        return None
    match = _SURROGATE.search(text)
    return match.start() if match else None


def shown(text: object, limit: int = SHOWN_CHARS) -> str:
    """``text`` as a message may quote it on one line: lone surrogates written as
    ``\\udXXX``, line breaks and other control characters as ``\\xNN``, long text cut."""
    value = str(text)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    if not value.isprintable():
        value = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", value)
    if bad_character(value) is not None:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def bad_text_sentence(text: str, position: int) -> str:
    """Where the invalid character is, in words a marketer can act on."""
    code = f"\\u{ord(text[position]):04x}"
    return (f"holds an invalid character ({code}, half of a UTF-16 pair) at position {position + 1}; "
            "delete it and type the text again")

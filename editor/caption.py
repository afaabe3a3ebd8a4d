"""A node's caption: styled runs word-wrapped into two lines, the last shortened with "…".

Kept apart from the canvas items so the wrapping can be tested and reused
(the run overlay and the items both measure with the same fonts).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetricsF

from editor import style

#: A caption takes up to two lines under the title before it is shortened with "…".
CAPTION_LINES = 2


@cache
def caption_fonts() -> dict[str, QFont]:
    normal = style.font(12)
    emphasis = style.font(12, QFont.Weight.Medium, italic=True)
    return {"normal": normal, "muted": emphasis, "emphasis": emphasis}


def wrap_runs(runs: list[tuple[str, str]], width: float, max_lines: int) -> list[list[tuple[str, str]]]:
    """Word-wrap styled runs (text, font kind) into at most ``max_lines`` lines of ``width``.

    Only the last line is shortened with "…", and a short closing run (the
    "?" of a condition) stays visible after the ellipsis, so "Opened …?"
    still reads as a question.
    """
    fonts = caption_fonts()

    def advance(text: str, kind: str) -> float:
        return QFontMetricsF(fonts[kind]).horizontalAdvance(text)

    words = [(w, kind) for text, kind in runs for w in re.findall(r"\S+\s*", text)]
    lines: list[list[tuple[str, str]]] = []
    while words and len(lines) < max_lines:
        last = len(lines) == max_lines - 1
        used = 0.0
        line: list[tuple[str, str]] = []
        while words:
            word, kind = words[0]
            w = advance(word.rstrip(), kind)
            if used + w <= width or (not line and not last):
                if not line and used + w > width:  # one word longer than a line: cut it there
                    word = QFontMetricsF(fonts[kind]).elidedText(word, Qt.TextElideMode.ElideRight, width)
                line.append((word, kind))
                used += advance(word, kind)
                words.pop(0)
            else:
                break
        if last and words:
            tail = runs[-1] if len(runs) > 1 and len(runs[-1][0]) <= 2 else None
            rest = line + words
            if tail is not None:
                rest = rest[:len(rest) - len(re.findall(r"\S+\s*", tail[0]))]
            room = width - (advance(tail[0], tail[1]) if tail else 0.0)
            line = _elide_runs(rest, room, advance) + ([tail] if tail else [])
            words = []
        lines.append(_merge(line))
    return lines


def _elide_runs(words: list[tuple[str, str]], room: float, advance: Any) -> list[tuple[str, str]]:
    """As many words as fit in ``room`` with "…" after them (the last one cut if need be)."""
    kept: list[tuple[str, str]] = []
    used = 0.0
    for word, kind in words:
        w = advance(word, kind)
        if used + w + advance("…", kind) > room:
            fm = QFontMetricsF(caption_fonts()[kind])
            cut = fm.elidedText(word.rstrip(), Qt.TextElideMode.ElideRight, max(0.0, room - used))
            kept.append((cut if cut.endswith("…") else cut + "…", kind))
            return kept
        kept.append((word, kind))
        used += w
    return kept


def _merge(line: list[tuple[str, str]]) -> list[tuple[str, str]]:
    merged: list[tuple[str, str]] = []
    for text, kind in line:
        if merged and merged[-1][1] == kind:
            merged[-1] = (merged[-1][0] + text, kind)
        else:
            merged.append((text, kind))
    if merged:
        merged[-1] = (merged[-1][0].rstrip(), merged[-1][1])
    return merged

"""Merge fields: which lead fields a flow's templates use, and which a lead list lacks.

``{{ frist_name }}`` is valid Jinja and renders empty for every lead, so
the mistake shows only in the inbox. Once the lead list is known (the CSV's
columns, in the CLI and in the app), each field a template reads that the
list does not have is reported, with the closest column as a suggestion.
It is a warning, not an error: ``{{ nickname | default("there") }}`` on
purpose, or a field that only some lead lists have, is legitimate.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator
from functools import lru_cache
from typing import Optional

from jinja2 import TemplateError, meta

from engine.flow.model import Flow
from engine.flow.templates import ENVIRONMENT

#: Fields every lead has whatever its list's columns (``template_context`` adds them).
STANDARD_FIELDS: frozenset[str] = frozenset({"email"})
#: Names a template may use that are not lead fields (``range``, ``lipsum``, ``loop``...).
_NOT_FIELDS: frozenset[str] = frozenset(ENVIRONMENT.globals) | {"loop", "self", "super", "varargs", "kwargs"}
#: The email node's templates, with the word a message uses for each.
PARTS: tuple[tuple[str, str], ...] = (("subject", "subject"), ("html", "body"), ("text", "text body"))


@lru_cache(maxsize=8192)
def template_fields(source: str) -> tuple[str, ...]:
    """The lead fields a template reads, in name order (none if it does not parse:
    a broken template has its own finding)."""
    try:
        tree = ENVIRONMENT.parse(source)
    except (TemplateError, RecursionError):
        return ()
    return tuple(sorted(meta.find_undeclared_variables(tree) - _NOT_FIELDS))


def known_fields(columns: Collection[str]) -> frozenset[str]:
    """What a template can use with this lead list: its columns and the standard fields."""
    return frozenset(columns) | STANDARD_FIELDS


def suggestion(name: str, known: Collection[str]) -> Optional[str]:
    """The known field ``name`` was most likely meant to be (``frist_name`` -> ``first_name``)."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    if not close:
        close = [k for k in sorted(known) if k.lower() == name.lower()]
    return close[0] if close else None


def unknown_fields(flow: Flow, columns: Collection[str]) -> Iterator[tuple[str, str, str, Optional[str]]]:
    """``(node id, part word, field, suggestion)`` for each field a template uses that the list lacks."""
    known = known_fields(columns)
    for node in flow.nodes:
        if node.type != "email":
            continue
        for key, word in PARTS:
            source = node.get(key)
            if not isinstance(source, str) or "{" not in source:
                continue
            for name in template_fields(source):
                if name not in known:
                    yield node.id, word, name, suggestion(name, known)

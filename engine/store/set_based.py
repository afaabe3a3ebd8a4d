"""Many rows of one statement as one statement on PostgreSQL, its parameters as arrays.

``executemany`` runs a statement once per row. On PostgreSQL every row is a
round of bind and execute on the server: publishing an edit that moves
100,000 tokens (or one large batch of a campaign) wrote five statements per
lead that way and spent most of its time there. The same statement joined
to ``unnest`` of one array per parameter does the work in one go:

    UPDATE waits SET state=?, fired_at=? WHERE waits.id = ? AND waits.state = 'pending'
    UPDATE waits SET state=v.p0, fired_at=v.p1
      FROM unnest(?::VARCHAR(16)[], ?::BIGINT[], ?::BIGINT[]) AS v(p0, p1, p2)
      WHERE waits.id = v.p2 AND waits.state = 'pending'

It means the same: an UPDATE changes exactly the rows its WHERE matches (a
compare-and-set still counts its hits in the row count), an INSERT skips
conflicts as written, all inside the caller's transaction. One difference:
a row listed twice is updated once, not twice (the engine never lists one
twice), which is why an UPDATE that computes from the row's own values
(``n = n + 1``) keeps running row by row.

The twin is derived from the plain text of the engine's generated statements
(``statements.py``: ``INSERT ... VALUES (?, ...)`` and ``UPDATE ... SET a=? ...
WHERE t.b = ?``), typed from the tables' own columns; a statement of any
other shape has none and runs row by row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Optional

from sqlalchemy import Boolean
from sqlalchemy.dialects import postgresql

#: Below this many rows ``executemany`` stays: one or two rows gain nothing from arrays.
SET_BASED_MIN = 200
#: Rows per statement: a few arrays of this length are a few megabytes at most.
SET_BASED_CHUNK = 50_000

_INSERT = re.compile(r"^INSERT INTO (\w+) \(([\w, ]+)\) VALUES \(([?, ]+)\)(.*)$", re.S)
_UPDATE = re.compile(r"^UPDATE (\w+) SET (.*?) WHERE (.*)$", re.S)
#: ``column=?`` or ``table.column = ?``: the column a parameter is compared with or assigned to.
_PARAM = re.compile(r"(?:(\w+)\.)?(\w+)\s*(?:=|!=|<>|<=|>=|<|>)\s*\?")
#: ``a=?``, ``a='x'``, ``a=NULL``, ``a=3``: an assignment whose result does not depend on the row's
#: own values. Only those are set-based: ``n = n + 1`` run twice for one row adds two, not one.
_ASSIGNMENT = re.compile(r"\b\w+\s*=\s*(?:\?|'[^']*'|NULL|-?\d+)")
_INTEGERS = frozenset({"BIGINT", "INTEGER", "SMALLINT"})
#: Tables the engine writes that are not models (the batch's temporary table of lead ids).
_TEMPORARY = {"batch_leads": {"lead_id": "BIGINT"}}


@dataclass(frozen=True)
class SetBased:
    #: The statement over arrays, ``?`` placeholders, one per parameter of the plain one.
    text: str
    #: Each parameter's PostgreSQL type (``BIGINT``, ``VARCHAR(16)``, ``BOOLEAN``...).
    types: tuple[str, ...]

    def arrays(self, rows: Sequence[tuple]) -> list[str]:
        """One array literal per parameter (``{1,2,NULL}``): written here with ``join``, they
        cost the client a fraction of what adapting each element does."""
        return [_literal(list(column), kind) for column, kind in zip(zip(*rows, strict=True), self.types,
                                                                      strict=True)]


def _literal(values: list[Any], kind: str) -> str:
    if kind in _INTEGERS:
        if all(type(v) is int for v in values):
            return "{" + ",".join(map(str, values)) + "}"
        return "{" + ",".join("NULL" if v is None else str(round(v)) for v in values) + "}"
    if kind == "BOOLEAN":
        return "{" + ",".join("NULL" if v is None else ("t" if v else "f") for v in values) + "}"
    if None not in values and all(type(v) is str for v in values):
        joined = "\x00".join(values)  # no NUL in PostgreSQL text: a safe separator
        if '"' not in joined and "\\" not in joined:
            return '{"' + joined.replace("\x00", '","') + '"}' if values else "{}"
    return "{" + ",".join("NULL" if v is None else _quoted(v) for v in values) + "}"


def _quoted(value: Any) -> str:
    text = value if type(value) is str else str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_based(plain: str) -> Optional[SetBased]:
    """The PostgreSQL twin of a plain ``?`` statement, or None when it has another shape."""
    return _twin(plain)


@cache
def _twin(plain: str) -> Optional[SetBased]:
    insert = _INSERT.match(plain)
    if insert is not None:
        table, names, marks, tail = insert.groups()
        columns = [n.strip() for n in names.split(",")]
        if [m.strip() for m in marks.split(",")] != ["?"] * len(columns) or "?" in tail:
            return None
        types = [_type(table, c) for c in columns]
        if None in types:
            return None
        arrays = ", ".join(f"?::{t}[]" for t in types)
        return SetBased(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}){tail}",
                        tuple(types))  # type: ignore[arg-type]
    update = _UPDATE.match(plain)
    if update is None or "SELECT" in plain.upper() or _ASSIGNMENT.sub("", update.group(2)).strip(", "):
        return None
    table = update.group(1)
    found = list(_PARAM.finditer(plain))
    if not found or len(found) != plain.count("?"):
        return None
    types = [_type(m.group(1) or table, m.group(2)) if m.group(1) in (None, table) else None for m in found]
    if None in types:
        return None
    text, at = [], 0
    for index, match in enumerate(found):
        text.append(plain[at:match.end() - 1] + f"v.p{index}")
        at = match.end()
    text.append(plain[at:])
    joined = "".join(text)
    where = joined.index(" WHERE ", len(f"UPDATE {table} SET "))
    arrays = ", ".join(f"?::{t}[]" for t in types)
    names = ", ".join(f"p{i}" for i in range(len(types)))
    return SetBased(f"{joined[:where]} FROM unnest({arrays}) AS v({names}){joined[where:]}",
                    tuple(types))  # type: ignore[arg-type]


def _type(table: str, column: str) -> Optional[str]:
    """The PostgreSQL type of a table's column, as an array element type can name it."""
    if table in _TEMPORARY:
        return _TEMPORARY[table].get(column)
    from engine.store import models  # noqa: F401 - every table is declared there
    from engine.store.base import Base

    found = Base.metadata.tables.get(table)
    if found is None or column not in found.c:
        return None
    kind = found.c[column].type
    return "BOOLEAN" if isinstance(kind, Boolean) else kind.compile(dialect=postgresql.dialect())

"""The engine's plain SQL, generated once at import from the typed tables.

The hot paths run plain ``?`` SQL on the driver (``bulk.py``), but every
column they touch is named through the model (``Token.lead_id``), never in a
hand-written string: a renamed or misspelt column fails when the module is
imported, not halfway through a campaign. ``insert`` assembles its text from
``Column.name``; ``update`` and ``sql`` compile SQLAlchemy Core statements
with ``PARAM`` (a bare ``?``) where the caller passes a value, so a
statement's parameters are its ``?`` marks in reading order.

Every statement built here is recorded in ``BUILT``, so a test can prepare
each one against a freshly migrated database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Union

from sqlalchemy import Column, ColumnElement, Table, column, literal_column, select, table
from sqlalchemy import update as core_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.expression import ClauseElement

#: A value the caller passes, in reading order (the ``?→%s`` switch for psycopg is in ``bulk.py``).
PARAM = literal_column("?")
#: Stands for a list of values whose length is known only when the statement runs: ``expand`` it.
_MANY = "(?*)"
PARAMS = literal_column(_MANY)

#: The engine's per-batch temporary table of lead ids (created by ``run.batch.fill_batch_leads``).
BATCH_LEADS = table("batch_leads", column("lead_id"))

ColumnLike = Union[InstrumentedAttribute, Column]
Assignment = Union[ColumnLike, tuple[ColumnLike, Any]]

_DIALECTS = {"any": sqlite.dialect(), "sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


@dataclass(frozen=True)
class Built:
    """One generated statement: its text, what it was built from, where it can run."""

    text: str
    source: Union[ClauseElement, tuple[Column, ...]]
    #: ``any`` (SQLite and PostgreSQL), or the one database it is written for.
    dialect: str


BUILT: list[Built] = []


def column_of(attribute: ColumnLike) -> Column:
    """The table column behind a model attribute (``Token.lead_id``)."""
    if isinstance(attribute, Column):
        return attribute
    expression = getattr(attribute, "expression", None)
    if not isinstance(expression, Column) or expression.table is None:
        raise TypeError(f"{attribute!r} is not a column of a typed table")
    return expression


def columns(*attributes: ColumnLike) -> tuple[Column, ...]:
    """Columns of one table, in the order given (a statement's row order)."""
    found = tuple(column_of(a) for a in attributes)
    tables = {c.table.name for c in found}
    if len(tables) != 1:
        raise ValueError(f"one table per statement, got {sorted(tables)}")
    return found


def insert(*attributes: ColumnLike, skip_conflicts_on: tuple[ColumnLike, ...] = ()) -> str:
    """``INSERT INTO t (a, b) VALUES (?, ?)``: rows are tuples in ``attributes`` order.

    ``skip_conflicts_on`` names a unique key: a row that repeats one is left
    out (``ON CONFLICT (...) DO NOTHING``, on SQLite and PostgreSQL alike).
    """
    found = columns(*attributes, *skip_conflicts_on)
    given, unique = found[:len(attributes)], found[len(attributes):]
    names = ", ".join(c.name for c in given)
    marks = ", ".join("?" for _ in given)
    text = f"INSERT INTO {found[0].table.name} ({names}) VALUES ({marks})"
    if unique:
        text += f" ON CONFLICT ({', '.join(c.name for c in unique)}) DO NOTHING"
    return _record(text, found, "any")


def update(*assignments: Assignment, where: Iterable[ColumnElement[Any]] = (), dialect: str = "any") -> str:
    """``UPDATE t SET a = ?, b = 'x' ... WHERE ...``.

    A bare column is set from a parameter; ``(column, value)`` sets a constant
    or an expression (``(Token.version, Token.version + 1)``). Parameters are
    the SET values in order, then those of ``where``.
    """
    pairs = [(a, PARAM) if not isinstance(a, tuple) else a for a in assignments]
    target: Table = columns(*(name for name, _value in pairs))[0].table  # type: ignore[assignment]
    statement = core_update(target).ordered_values(*((column_of(name), value) for name, value in pairs))
    return sql(statement.where(*where), dialect)


def sql(statement: ClauseElement, dialect: str = "any") -> str:
    """A Core statement as plain text, constants inlined, ``PARAM`` left as ``?``.

    ``dialect="any"`` statements must read the same on SQLite and PostgreSQL
    (no boolean constants, no ``FOR UPDATE``); the test of generated
    statements prepares each one on both.
    """
    compiled = statement.compile(dialect=_DIALECTS[dialect], compile_kwargs={"literal_binds": True})
    text = " ".join(line.strip() for line in str(compiled).splitlines())
    return _record(text, statement, dialect)


def in_batch(lead_column: ColumnLike) -> ColumnElement[bool]:
    """The column is one of this batch's leads (``run.batch.fill_batch_leads``)."""
    return column_of(lead_column).in_(select(BATCH_LEADS.c.lead_id))


def in_params(attribute: ColumnLike) -> ColumnElement[bool]:
    """``column IN (?, ?, ...)`` for a list of values: ``expand`` the text before running it."""
    return column_of(attribute).op("IN")(PARAMS)


def expand(text: str, count: int) -> str:
    """A statement built with ``in_params`` ready for ``count`` values (none: matches no row)."""
    if _MANY not in text:
        raise ValueError("the statement has no list of parameters to expand")
    return text.replace(_MANY, "(" + (", ".join("?" for _ in range(count)) or "NULL") + ")")


def _record(text: str, source: Union[ClauseElement, tuple[Column, ...]], dialect: str) -> str:
    BUILT.append(Built(text, source, dialect))
    return text

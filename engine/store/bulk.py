"""Many rows, one statement, straight to the DB-API driver.

The engine reads and writes tens of thousands of rows per batch. SQLAlchemy
builds a parameter dict and a ``Row`` per row and runs type processors on
each; for the engine's plain columns (integers, text, booleans) that is pure
overhead, so the hot batch statements are plain SQL with ``?`` placeholders,
run on the session's own connection (same transaction) with tuples. That
SQL is generated from the typed models in ``models.py`` once, at import
(``statements.py``), so each column is declared once; only the placeholder
style is decided here, per connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from engine.store import set_based as set_based_rows
from engine.store.statements import ColumnLike, insert


def _sql_for(session: Session, sql: str) -> tuple[Any, str]:
    connection = session.connection()
    return connection, sql if connection.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def driver_cursor(session: Session, sql: str) -> tuple[Any, str]:
    """A DB-API cursor on the session's connection, and ``sql`` in its placeholder style,
    for a caller that runs one statement many times itself (close the cursor after)."""
    connection, sql = _sql_for(session, sql)
    return connection.connection.dbapi_connection.cursor(), sql


def execute_many(session: Session, sql: str, rows: Sequence[tuple]) -> int:
    """Run ``sql`` once per tuple in ``rows``; returns the total rowcount.

    On PostgreSQL many rows go as one statement over arrays (``set_based.py``)."""
    if not rows:
        return 0
    connection = session.connection()
    if len(rows) >= set_based_rows.SET_BASED_MIN and connection.dialect.name == "postgresql":
        twin = set_based_rows.set_based(sql)
        if twin is not None:
            return _execute_set_based(connection, twin.text.replace("?", "%s"), twin.arrays, rows)
    connection, sql = _sql_for(session, sql)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.executemany(sql, rows)
        return cursor.rowcount
    finally:
        cursor.close()


def _execute_set_based(connection: Any, sql: str, arrays: Any, rows: Sequence[tuple]) -> int:
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        hit = 0
        for start in range(0, len(rows), set_based_rows.SET_BASED_CHUNK):
            cursor.execute(sql, arrays(rows[start:start + set_based_rows.SET_BASED_CHUNK]))
            hit += cursor.rowcount
        return hit
    finally:
        cursor.close()


def fetch_all(session: Session, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Plain tuples from a query on the session's connection."""
    connection, sql = _sql_for(session, sql)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return cursor.fetchall()
    finally:
        cursor.close()


def insert_sql(*columns: ColumnLike, skip_conflicts_on: tuple[ColumnLike, ...] = ()) -> str:
    """``INSERT`` of tuples in the order of ``columns`` (``Token.id, Token.lead_id, ...``)."""
    return insert(*columns, skip_conflicts_on=skip_conflicts_on)


def begin_write(session: Session) -> None:
    """Start this unit of work as a writer, up front.

    SQLite lets a transaction that has read but not yet written fail at once
    (``SQLITE_BUSY``, whatever the busy timeout) when it then tries to write
    after another connection wrote. Every engine unit of work reads and then
    writes, so on SQLite it takes the write lock first (``BEGIN IMMEDIATE``):
    writers then queue politely behind each other for up to the busy timeout.
    PostgreSQL needs nothing of the kind.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # errors come wrapped, like any other statement

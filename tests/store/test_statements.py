"""Every generated bulk statement runs against the schema the migrations build.

The engine's plain SQL is built at import from the typed tables
(``engine/store/statements.py``); this prepares each statement on a freshly
migrated database (``EXPLAIN``), so a statement naming a column the tables
do not have (a model edited without its migration, or the other way round)
fails here, on SQLite and on PostgreSQL, instead of in a running campaign.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, inspect, select
from sqlalchemy.sql import visitors

import engine
from engine.store.database import Database
from engine.store.statements import BUILT, Built, expand, insert, sql


def _import_every_engine_module() -> list[Built]:
    """Statements are module constants: importing the engine builds them all."""
    for module in pkgutil.walk_packages(engine.__path__, "engine."):
        if not module.name.endswith("__main__") and ".migrations" not in module.name:  # Alembic runs those
            importlib.import_module(module.name)
    return list(BUILT)


STATEMENTS = _import_every_engine_module()


def _runnable(text: str) -> str:
    return expand(text, 2) if "(?*)" in text else text


def _prepare_problems(db: Database, statements: list[Built]) -> list[str]:
    """Each statement EXPLAINed with NULL for every parameter; what the database refused."""
    problems = []
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if db.is_sqlite:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS batch_leads (lead_id INTEGER PRIMARY KEY)")
        else:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS batch_leads (lead_id BIGINT PRIMARY KEY)")
        for built in statements:
            text = _runnable(built.text)
            params = (None,) * text.count("?")
            if not db.is_sqlite:
                text = text.replace("?", "%s")
            try:
                cursor.execute("EXPLAIN " + text, params)
                cursor.fetchall()
            except Exception as exc:  # noqa: BLE001 - reported with its statement
                problems.append(f"{built.text}\n  -> {str(exc).splitlines()[0]}")
                raw.rollback()
    finally:
        raw.close()
    return problems


def _columns_named(built: Built) -> set[tuple[str, str]]:
    """(table, column) of every table column a statement was built from."""
    if isinstance(built.source, tuple):
        found = built.source
    else:
        found = [c for c in visitors.iterate(built.source) if isinstance(c, Column)]
    return {(c.table.name, c.name) for c in found if isinstance(c.table, Table)}


def test_the_engine_builds_its_bulk_statements_from_the_typed_tables():
    texts = {b.text for b in STATEMENTS}
    from engine.run.batch_statements import INSERT_SEND, SELECT_TOKENS, UPDATE_TOKEN
    from engine.runtime.outbox_statements import CLAIM
    from engine.runtime.sink import INSERT_TRACKED

    assert {INSERT_SEND, SELECT_TOKENS, UPDATE_TOKEN, CLAIM, INSERT_TRACKED} <= texts
    assert len(STATEMENTS) >= 40


def test_every_column_a_statement_names_exists_in_the_migrated_schema(tmp_path):
    db = Database(tmp_path / "fresh.db")
    db.migrate()
    schema = inspect(db.engine)
    have = {(t, c["name"]) for t in schema.get_table_names() for c in schema.get_columns(t)}
    missing = sorted({f"{t}.{c}" for b in STATEMENTS for t, c in _columns_named(b) if t != "batch_leads"} -
                     {f"{t}.{c}" for t, c in have})
    db.dispose()
    assert missing == []


def test_every_statement_prepares_on_sqlite(tmp_path):
    db = Database(tmp_path / "fresh.db")
    db.migrate()
    problems = _prepare_problems(db, [b for b in STATEMENTS if b.dialect in ("any", "sqlite")])
    db.dispose()
    assert problems == [], "\n".join(problems)


def test_every_statement_prepares_on_postgresql(scale_db):
    """On a database with procrastinate's schema too: the scale-out statements call its functions."""
    problems = _prepare_problems(scale_db, [b for b in STATEMENTS if b.dialect in ("any", "postgresql")])
    assert problems == [], "\n".join(problems)


def test_a_statement_naming_a_column_the_migrations_lack_is_caught(tmp_path):
    """What the tests above catch: a model column with no migration behind it."""
    ghost = Table("sends", MetaData(), Column("id", Integer, primary_key=True), Column("ghost", Integer))
    statements = [Built(insert(ghost.c.id, ghost.c.ghost), (ghost.c.id, ghost.c.ghost), "any"),
                  Built(sql(select(ghost.c.ghost)), select(ghost.c.ghost), "any")]
    BUILT[-2:] = []  # built for this test only
    db = Database(tmp_path / "fresh.db")
    db.migrate()
    problems = _prepare_problems(db, statements)
    db.dispose()
    assert len(problems) == 2 and all("ghost" in p for p in problems)


@pytest.mark.parametrize("name", ["no_such_column", "lead"])
def test_a_misspelt_column_fails_when_the_statement_is_built(name):
    from engine.store.models import Token

    with pytest.raises(AttributeError):
        insert(Token.id, getattr(Token, name))

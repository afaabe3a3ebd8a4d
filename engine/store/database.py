"""Opening a database: SQLite in WAL mode by default, PostgreSQL for scale-out.

One ``Database`` holds one SQLAlchemy engine and one ``sessionmaker``; callers
own their transactions with ``with db.session() as session:`` (a
``Session.begin()`` block), one per unit of work. Every opener calls
``migrate()`` first: Alembic owns the schema (``engine.store.schema``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Union

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from engine.store.private_files import prepare_sqlite_file

if TYPE_CHECKING:
    from engine.store.schema import MigrationResult


def database_url(target: Union[str, Path, None]) -> str:
    """Turn a CLI ``--db`` value (a path, ``:memory:`` or a URL) into a URL."""
    if target is None or str(target) == ":memory:":
        return "sqlite+pysqlite:///:memory:"
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the driver we ship; SQLAlchemy would otherwise look for psycopg2.
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if "://" in text:
        return text
    return f"sqlite+pysqlite:///{Path(text).expanduser().resolve()}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable against application crashes in WAL mode; only an OS
    # crash or power loss can drop the last transactions.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
    # SQLite's own lower() folds ASCII only; PostgreSQL's (UTF-8) and Python's fold every
    # letter. One rule everywhere, so a lead ``JÖRG@…`` matches the suppressed ``jörg@…``.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    if value is None or isinstance(value, str):
        return value and value.lower()
    return str(value).lower()


class Database:
    def __init__(self, target: Union[str, Path, None] = None, echo: bool = False) -> None:
        self.url = database_url(target)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict = {"echo": echo}
        if self.url.endswith(":memory:"):
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        elif self.is_sqlite:
            kwargs.update(connect_args={"check_same_thread": False, "timeout": 10})
            # Owner-only (0600) before SQLite creates it; its -wal and -shm files inherit the mode.
            prepare_sqlite_file(make_url(self.url).database or "")
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> MigrationResult:
        """Bring the schema to this code's revision before any other use.

        An empty database is created, an older one migrated (after a backup
        copy on SQLite), a newer one refused with ``SchemaError``: see
        ``engine.store.schema``. Cheap when the database is already current.
        """
        from engine.store.schema import migrate

        return migrate(self)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

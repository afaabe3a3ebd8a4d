"""The campaign database's schema over time: Alembic revisions, run in code.

A desktop application is upgraded in place, so every database it ever made
must open in every later version. Each database records its schema revision
(Alembic's ``alembic_version`` table); opening one brings it to this code's
head revision:

- an empty database is built from the models and stamped with head;
- a database made by release 0.1 (our tables, no version table) is stamped
  ``0001`` (that release's schema, exactly) and then migrated;
- an older database is migrated in one transaction, after a backup copy
  beside the file on SQLite (PostgreSQL relies on its transactional DDL: a
  failed migration rolls back and leaves the database as it was);
- a database newer than this code is refused with one sentence, untouched.

Openers race: on PostgreSQL several workers may start at once, so the
migration holds ``pg_advisory_xact_lock`` and re-reads the revision under it;
on SQLite the migration is a ``BEGIN IMMEDIATE`` transaction, so a second
opener waits for the first and then finds the work done. A database already
at head is recognised by one read, without taking any lock.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection

from engine.store.private_files import create_private_file

if TYPE_CHECKING:
    from engine.store.database import Database

#: Where the revision scripts live, inside the installed package.
SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
#: The revision that is release 0.1's schema.
RELEASE_0_1 = "0001"
#: The tables release 0.1 made (it had no version table).
RELEASE_0_1_TABLES = frozenset({
    "campaigns", "leads", "tokens", "unsubscribes", "sends", "skips", "waits", "listeners", "events",
    "edge_counts", "engine_counters", "id_counters", "mailbox_messages",
})
#: Same key as every other schema-changing opener of a PostgreSQL database.
PG_LOCK_KEY = 421337


class SchemaError(Exception):
    """A database this code must not open or change; the message is one sentence for the user."""


@dataclass(frozen=True)
class MigrationResult:
    """What opening did: ``created``, ``migrated`` or ``current``, and from which revision."""

    action: str
    from_revision: Optional[str]
    to_revision: str
    backup: Optional[Path] = None


def target_metadata() -> MetaData:
    """Every Mailbranch table: all are declared in ``engine.store`` and registered by ``models``."""
    import engine.store.models  # noqa: F401
    from engine.store.base import Base

    return Base.metadata


def include_name(name: Optional[str], type_: str, parent_names: dict) -> bool:
    """Alembic compares only Mailbranch's tables: procrastinate keeps its own in the same database."""
    if type_ == "table":
        return not (name or "").startswith("procrastinate")
    return True


def alembic_config(connection: Optional[Connection] = None) -> Config:
    """Alembic's settings, built in code: no ``alembic.ini`` is needed or read."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The revision this code writes."""
    revision = script_directory().get_current_head()
    assert revision is not None, "the migrations folder has no revisions"
    return revision


def known(revision: str) -> bool:
    try:
        return script_directory().get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(connection: Connection) -> Optional[str]:
    """The revision a database records, or None when it has no version table."""
    return MigrationContext.configure(connection).get_current_revision()


def migrate(db: Database) -> MigrationResult:
    """Bring ``db`` to head (see the module docstring); raises ``SchemaError`` when it must not."""
    target = head()
    with db.engine.connect() as connection:
        revision = current_revision(connection)
        connection.rollback()
    if revision == target:
        return MigrationResult("current", revision, target)
    if revision is not None and not known(revision):
        raise SchemaError(_too_new(revision))
    if db.is_sqlite:
        return _migrate_sqlite(db, target)
    return _migrate_postgresql(db, target)


def _too_new(revision: str) -> str:
    return (f"This database was written by a newer version of Mailbranch (schema revision {revision}); "
            "open it with that version or a later one.")


def _migrate_postgresql(db: Database, target: str) -> MigrationResult:
    with db.engine.connect() as connection, connection.begin():
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
        return _upgrade(connection, target, backup=None)


def _migrate_sqlite(db: Database, target: str) -> MigrationResult:
    path = db.engine.url.database
    file = Path(path) if path and path != ":memory:" else None
    with db.engine.connect() as connection:
        # Batch migrations copy tables, which foreign keys would forbid; the
        # pragma only takes effect outside a transaction, and the check at the
        # end proves the copies kept every reference intact.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        try:
            # The Python driver does not open a transaction before DDL by
            # itself: open it here, as the writer, so the whole migration is one.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            result = _upgrade(connection, target, backup=file)
            problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise SchemaError(f"The migration to schema revision {target} would break "
                                  f"{len(problems)} references between rows, so nothing was changed.")
            connection.commit()
            return result
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def _upgrade(connection: Connection, target: str, backup: Optional[Path]) -> MigrationResult:
    """Inside the migration's transaction and lock: read the revision again and act on it."""
    revision = current_revision(connection)
    if revision == target:
        return MigrationResult("current", revision, target)
    if revision is not None and not known(revision):
        raise SchemaError(_too_new(revision))
    config = alembic_config(connection)
    copy: Optional[Path] = None
    if revision is None:
        present = RELEASE_0_1_TABLES & set(inspect(connection).get_table_names())
        if not present:
            # Alembic's cookbook recipe: build from the models, record head.
            # The revisions are for databases that hold data; the test that
            # compares a migrated database with the models keeps both equal.
            target_metadata().create_all(connection)
            MigrationContext.configure(connection).stamp(script_directory(), target)
            return MigrationResult("created", None, target)
        if present != RELEASE_0_1_TABLES:
            missing = ", ".join(sorted(RELEASE_0_1_TABLES - present))
            raise SchemaError(f"This database has some of Mailbranch's tables but not others ({missing}), "
                              "so it was not made by Mailbranch and is left as it is.")
        if backup is not None:
            copy = backup_copy(backup, RELEASE_0_1)
        command.stamp(config, RELEASE_0_1)
        revision = RELEASE_0_1
    elif backup is not None:
        copy = backup_copy(backup, revision)
    command.upgrade(config, target)
    return MigrationResult("migrated", revision, target, copy)


def draft_revision(message: str, directory: Optional[Path] = None) -> Path:
    """Write the next revision script, drafted by Alembic from the models (for developers).

    A scratch SQLite database is brought to head and compared with the
    models; the draft still needs a reading (data moves, batch mode for
    SQLite: docs/operations.md, "Upgrades"). ``directory`` defaults to the
    package's ``versions`` folder. Returns the new file.
    """
    import tempfile

    from sqlalchemy import create_engine

    number = f"{int(head()) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite+pysqlite:///{Path(scratch) / 'draft.db'}")
        try:
            with engine.begin() as connection:
                config = alembic_config(connection)
                if directory is not None:
                    folders = [SCRIPT_LOCATION / "versions", directory]
                    config.set_main_option("version_locations", os.pathsep.join(map(str, folders)))
                command.upgrade(config, "head")
                script = command.revision(config, message=message, autogenerate=True, rev_id=number,
                                          version_path=str(directory) if directory else None)
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def backup_copy(file: Path, revision: str) -> Path:
    """Copy a SQLite database beside itself, as ``<name>.backup-<revision>-<UTC time>``.

    SQLite's backup API copies a consistent snapshot, WAL content included,
    while the migration holds the write lock (readers are still allowed).
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    copy = file.with_name(f"{file.name}.backup-{revision}-{stamp}")
    n = 1
    while copy.exists():
        n += 1
        copy = file.with_name(f"{file.name}.backup-{revision}-{stamp}-{n}")
    source = sqlite3.connect(str(file))
    try:
        create_private_file(copy)  # a copy of every lead's address: owner-only, like the original
        target = sqlite3.connect(str(copy))
        try:
            source.backup(target)
            # One self-contained file: opening the copy later makes no -wal beside it.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()
    return copy

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

# Real Postfix and Dovecot on loopback (skipped, saying why, where they cannot run).
from tests.mailservers import mail_servers, postfix_server  # noqa: E402, F401

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "resources" / "flows"


@pytest.fixture
def flows_dir() -> Path:
    return FLOWS


PG_URL = os.environ.get("MAILBRANCH_TEST_PG")


def fresh_database(backend: str, tmp_path: Path):
    """An empty engine database on SQLite (a file) or on the test PostgreSQL server."""
    from sqlalchemy import inspect

    from engine.store.database import Database
    from engine.store.schema import include_name

    if backend == "sqlite":
        db = Database(tmp_path / "engine.db")
    else:
        if not PG_URL:
            pytest.skip("no PostgreSQL server: set MAILBRANCH_TEST_PG (scripts/start-postgres does)")
        db = Database(PG_URL)
        with db.engine.begin() as connection:
            # Every table of ours, the version table too, whatever revision made them
            # (procrastinate's stay): migrate() then builds the current ones.
            ours = [name for name in inspect(connection).get_table_names() if include_name(name, "table", {})]
            if ours:
                connection.exec_driver_sql("DROP TABLE " + ", ".join(f'"{n}"' for n in ours) + " CASCADE")
    db.migrate()
    return db


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_db(request, tmp_path):
    """The engine's SEMANTICS suite runs on both databases."""
    db = fresh_database(request.param, tmp_path)
    yield db
    db.dispose()


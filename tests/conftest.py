import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "resources" / "flows"


@pytest.fixture
def flows_dir() -> Path:
    return FLOWS


PG_URL = os.environ.get("MAILBRANCH_TEST_PG")


def fresh_database(backend: str, tmp_path: Path):
    """An empty engine database on SQLite (a file) or on the test PostgreSQL server."""
    from engine.store.database import Database
    from engine.store.schema import target_metadata

    if backend == "sqlite":
        db = Database(tmp_path / "engine.db")
    else:
        if not PG_URL:
            pytest.skip("no PostgreSQL server: set MAILBRANCH_TEST_PG (scripts/start-postgres does)")
        db = Database(PG_URL)
        target_metadata().drop_all(db.engine)
        with db.engine.begin() as connection:
            # Without its tables the recorded revision would be a lie: migrate() builds them again.
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    db.migrate()
    return db


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_db(request, tmp_path):
    """The engine's SEMANTICS suite runs on both databases."""
    db = fresh_database(request.param, tmp_path)
    yield db
    db.dispose()


"""A fresh PostgreSQL database per test, for the scale-out engine, with the engine's and
procrastinate's schemas in it."""

import asyncio
import os
import secrets

import pytest

from engine.scale.worker import build_app, ensure_schema, libpq_url
from engine.store.database import Database

PG_URL = os.environ.get("MAILBRANCH_TEST_PG")


@pytest.fixture
def pg_url():
    if not PG_URL:
        pytest.skip("no PostgreSQL server: set MAILBRANCH_TEST_PG (scripts/start-postgres does)")
    import psycopg

    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"mb_scale_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = admin.rsplit("/", 1)[0] + "/" + name
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def scale_db(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    db = Database(pg_url)
    db.migrate()
    app = build_app(libpq_url(db.url), None)

    async def schema():
        async with app.open_async():
            await ensure_schema(app, db)

    asyncio.run(schema())
    yield db
    db.dispose()

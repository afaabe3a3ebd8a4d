"""A PostgreSQL database of its own for each migration test.

Migration tests build old schemas and race openers, so they never share the
suite's ``MAILBRANCH_TEST_PG`` database: each gets a scratch database on the
same server, dropped afterwards.
"""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import PG_URL

# A scratch PostgreSQL database with the engine's and procrastinate's schemas (the scale-out tests').
from tests.scale.conftest import pg_url, scale_db  # noqa: F401


@pytest.fixture
def pg_scratch_url():
    if not PG_URL:
        pytest.skip("no PostgreSQL server: set MAILBRANCH_TEST_PG (scripts/start-postgres does)")
    import psycopg

    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"mb_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

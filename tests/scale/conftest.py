"""A fresh PostgreSQL database per test, for the scale-out engine."""

import os
import secrets

import pytest

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

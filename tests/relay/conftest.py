"""Fixtures for the relay tests: an installation home, a campaign database, a relay process."""

from __future__ import annotations

import pytest

from engine.store.database import Database
from tests.scale.conftest import pg_url, scale_db  # noqa: F401 - the scale-out PostgreSQL fixtures

from .support import RelayProcess


@pytest.fixture(autouse=True)
def mailbranch_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MAILBRANCH_HOME", str(home))
    return home


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "campaign.db")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def relay(tmp_path, mailbranch_home):
    """``mailbranch relay serve`` in its own process on loopback, with this installation's secrets."""
    process = RelayProcess(tmp_path / "relay-data", mailbranch_home)
    process.start()
    yield process
    process.stop()

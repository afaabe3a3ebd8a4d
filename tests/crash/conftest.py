"""Crash tests: the engine and the sandbox SMTP server as their own processes,
the engine killed with SIGKILL and restarted (see ``harness.py``)."""

from __future__ import annotations

import pytest

from .harness import Sandbox


@pytest.fixture(scope="package")
def crash_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("crash")


@pytest.fixture(scope="package")
def sandbox(crash_dir):
    server = Sandbox(crash_dir)
    yield server
    server.close()


@pytest.fixture(autouse=True)
def mailbranch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))


@pytest.fixture
def db(tmp_path):
    from engine.store.database import Database

    database = Database(tmp_path / "campaign.db")
    database.migrate()
    yield database
    database.dispose()

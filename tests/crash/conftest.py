"""Crash tests: the engine as its own process, killed with SIGKILL and
restarted (see ``harness.py``), sending to an outside SMTP server in a
process of its own, or to its built-in sandbox."""

from __future__ import annotations

import pytest

from .harness import CountingServer


@pytest.fixture(scope="package")
def crash_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("crash")


@pytest.fixture(scope="package")
def sandbox(crash_dir):
    """The outside server: it keeps every copy, so a resend shows as it would in an inbox."""
    server = CountingServer(crash_dir)
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

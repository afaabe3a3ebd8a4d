"""Fixtures for the integration tests (helpers live in ``support.py``)."""

from __future__ import annotations

import pytest

from engine.store.database import Database


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

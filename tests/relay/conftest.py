"""Fixtures for the relay tests: an installation home, a campaign database, a relay process."""

from __future__ import annotations

import pytest

# The installation home (autouse) and a migrated campaign database, as for the integration tests.
from tests.integration.conftest import db, mailbranch_home  # noqa: F401
from tests.scale.conftest import pg_url, scale_db  # noqa: F401 - the scale-out PostgreSQL fixtures

from .support import RelayProcess


@pytest.fixture
def relay(tmp_path, mailbranch_home):  # noqa: F811 - the imported fixture, by name
    """``mailbranch relay serve`` in its own process on loopback, with this installation's secrets."""
    process = RelayProcess(tmp_path / "relay-data", mailbranch_home)
    process.start()
    yield process
    process.stop()

"""Fixtures for the bounce tests: a migrated campaign database, as for the integration tests."""

from tests.integration.conftest import db  # noqa: F401

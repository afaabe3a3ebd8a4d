"""Alembic's scripts for the campaign database (see ``engine.store.schema``)."""

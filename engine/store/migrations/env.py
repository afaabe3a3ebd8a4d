"""Alembic's entry point: runs the revision scripts on the connection it is handed.

Mailbranch never runs Alembic from a command line at run time:
``engine.store.schema`` builds the ``Config`` in code and passes the
connection (already inside the transaction that holds the migration lock) in
``config.attributes["connection"]``. Developers adding a revision use the same
``Config`` (see docs/operations.md, "Upgrades").
"""

from __future__ import annotations

from alembic import context

from engine.store.schema import include_name, target_metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Mailbranch migrations run through engine.store.schema, which hands them a connection.")

context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    include_name=include_name,
    # SQLite cannot ALTER most things: batch mode copies the table instead.
    render_as_batch=True,
    compare_type=True,
    compare_server_default=False,
)
with context.begin_transaction():
    context.run_migrations()

"""Adding and dropping columns the way every revision must: in batch mode.

SQLite cannot ALTER most things, so Alembic's batch mode copies the table;
each revision used to spell that ``with op.batch_alter_table(...)`` block out
again. Revisions import these two helpers and nothing else from ``engine``:
like a released revision, they are frozen (add a helper, never change what
one does), so every revision keeps running when the code around it changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def add_columns(table: str, *columns: sa.Column) -> None:
    """Add ``columns`` to ``table`` in one batch (one table copy on SQLite)."""
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    """Drop the columns ``names`` from ``table`` in one batch, in that order."""
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)

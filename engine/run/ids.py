"""Id blocks for rows the engine links before it writes them.

A batch creates tokens, sends, waits and listeners that point at each other,
then writes them all with a few ``executemany`` calls, so it needs their ids
up front. Ids come in blocks reserved inside the batch's own transaction
(``UPDATE id_counters ... RETURNING``): two processes never get the same
block, and a rolled-back batch gives its block back with it.
"""

from __future__ import annotations

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from engine.store.models import IdCounter, Listener, Send, Token, Wait

_TABLES = {"tokens": Token, "sends": Send, "waits": Wait, "listeners": Listener}


class IdAllocator:
    """Hands out ids from reserved blocks; ``forget()`` after a rollback."""

    def __init__(self, block: int = 4096) -> None:
        self.block = block
        self._ranges: dict[str, list[int]] = {}

    def take(self, session: Session, name: str) -> int:
        current = self._ranges.get(name)
        if current is None or current[0] >= current[1]:
            current = self._reserve(session, name, self.block)
            self._ranges[name] = current
        value = current[0]
        current[0] += 1
        return value

    def forget(self) -> None:
        self._ranges.clear()

    def _reserve(self, session: Session, name: str, count: int) -> list[int]:
        if session.get_bind().dialect.name == "postgresql":
            return self._reserve_from_sequence(session, name, count)
        stmt = (update(IdCounter).where(IdCounter.name == name)
                .values(next_id=IdCounter.next_id + count).returning(IdCounter.next_id))
        end = session.execute(stmt).scalar()
        if end is None:
            model = _TABLES[name]
            highest = session.execute(select(func.max(model.id))).scalar() or 0
            session.add(IdCounter(name=name, next_id=highest + 1 + count))
            session.flush()
            end = highest + 1 + count
        return [end - count, end]

    def _reserve_from_sequence(self, session: Session, name: str, count: int) -> list[int]:
        """On PostgreSQL a sequence hands out whole blocks without holding a row
        lock until commit, so workers' batches never queue behind each other."""
        sequence = f"mailbranch_{name}_blocks"
        exists = session.execute(text("SELECT to_regclass(:s)"), {"s": sequence}).scalar()
        if exists is None:
            highest = session.execute(select(func.max(_TABLES[name].id))).scalar() or 0
            # A second worker may create it at the same moment: IF NOT EXISTS.
            session.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {sequence} INCREMENT BY {self.block}"
                                 f" START WITH {highest + 1}"))
        start = session.execute(text(f"SELECT nextval('{sequence}')")).scalar()
        return [start, start + self.block]

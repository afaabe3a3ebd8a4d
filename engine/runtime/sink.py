"""Real events into the engine: the tracking server's sink, with group commit.

Each open, click or unsubscribe is checked against the database (does this
send belong to this campaign?) and recorded as a pending event, which the
engine then handles exactly like a simulated one. Requests that arrive while
a commit is under way wait for the next one and share it, so thousands of
events a second cost a few dozen transactions, and each request is answered
only once its event is safely stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select, update

from engine.faults import crash_point
from engine.store.bulk import begin_write, execute_many, fetch_all, insert_sql
from engine.store.database import Database
from engine.store.models import Lead, Unsubscribe

log = logging.getLogger("mailbranch.sink")

INSERT_EVENT = insert_sql("events", "campaign_id, lead_id, lead_key, type, node, send_id, url, at, source, state,"
                                    " triggered")


@dataclass
class _Item:
    kind: str  # open | click | unsubscribe
    campaign_id: int
    ref: int  # send id, or lead id for an unsubscribe
    url: Optional[str]
    at: int
    future: asyncio.Future


def _as_int(value: object) -> Optional[int]:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class EngineSink:
    """Implements ``engine.delivery.tracking_server.TrackingSink``."""

    def __init__(self, db: Database, on_recorded: Optional[Callable[[], None]] = None,
                 clock_ms: Optional[Callable[[], int]] = None,
                 campaign_time: Optional[Callable[[int], Optional[int]]] = None) -> None:
        self.db = db
        self.on_recorded = on_recorded
        self.clock_ms = clock_ms
        #: A campaign on a simulated clock records its events at its own time.
        self.campaign_time = campaign_time
        #: Scale-out: called in the recording transaction with (campaign, lead, at)
        #: of each event, to defer the jobs that wake the workers.
        self.on_events: Optional[Callable[[object, list[tuple[int, int, int]]], None]] = None
        self._queue: list[_Item] = []
        self._flusher: Optional[asyncio.Task] = None
        self.commits = 0
        self.recorded = 0

    async def record_open(self, campaign_id, send_id, at: int) -> bool:
        return await self._submit("open", campaign_id, send_id, None, at)

    async def record_click(self, campaign_id, send_id, url: str, at: int) -> bool:
        return await self._submit("click", campaign_id, send_id, url, at)

    async def unsubscribe(self, campaign_id, lead_id) -> bool:
        return await self._submit("unsubscribe", campaign_id, lead_id, None, None)

    async def _submit(self, kind: str, campaign_id, ref, url: Optional[str], at: Optional[int]) -> bool:
        cid, rid = _as_int(campaign_id), _as_int(ref)
        if cid is None or rid is None:
            return False
        if self.campaign_time is not None:
            own = self.campaign_time(cid)
            if own is not None:
                at = own
        if at is None:
            at = self.clock_ms() if self.clock_ms else time.time_ns() // 1_000_000
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(kind, cid, rid, url, at, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
        return await future

    async def _flush_loop(self) -> None:
        while self._queue:
            items, self._queue = self._queue, []
            try:
                results = await self._write_retrying(items)
            except Exception as exc:  # noqa: BLE001 - every waiting request must get an answer
                log.error("could not record %d tracking events: %s", len(items), exc)
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            for item, ok in zip(items, results, strict=True):
                if not item.future.done():
                    item.future.set_result(ok)
            if any(results) and self.on_recorded is not None:
                self.on_recorded()

    async def _write_retrying(self, items: list[_Item]) -> list[bool]:
        """SQLite refuses at once (busy timeout or not) a transaction that read and
        then wants to write while another connection writes: try it again."""
        for attempt in range(8):
            try:
                return await asyncio.to_thread(self._write, items)
            except Exception as exc:  # noqa: BLE001 - only "locked" is retried
                if attempt == 7 or "database is locked" not in str(exc):
                    raise
                await asyncio.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _write(self, items: list[_Item]) -> list[bool]:
        """One transaction for all queued items; returns whether each was known."""
        with self.db.session() as s:
            begin_write(s)
            send_ids = sorted({i.ref for i in items if i.kind != "unsubscribe"})
            sends: dict[int, tuple[int, int, str]] = {}
            for start in range(0, len(send_ids), 5000):
                part = send_ids[start:start + 5000]
                marks = ", ".join("?" for _ in part)
                for send_id, campaign_id, lead_id, node in fetch_all(
                        s, f"SELECT id, campaign_id, lead_id, node FROM sends WHERE id IN ({marks})", part):
                    sends[send_id] = (campaign_id, lead_id, node)
            rows, results = [], []
            for item in items:
                if item.kind == "unsubscribe":
                    results.append(self._unsubscribe(s, item, rows))
                    continue
                known = sends.get(item.ref)
                if known is None or known[0] != item.campaign_id:
                    results.append(False)
                    continue
                rows.append((item.campaign_id, known[1], None, item.kind, known[2], item.ref, item.url, item.at,
                             "tracking", "pending", "[]"))
                results.append(True)
            execute_many(s, INSERT_EVENT, rows)
            if rows and self.on_events is not None:
                self.on_events(s, [(r[0], r[1], r[7]) for r in rows])
            crash_point("sink_before_commit")
        self.commits += 1
        self.recorded += len(rows)
        return results

    def _unsubscribe(self, s, item: _Item, rows: list[tuple]) -> bool:
        """Mark the address unsubscribed everywhere and finish its tokens in every campaign."""
        lead = s.get(Lead, item.ref)
        if lead is None or lead.campaign_id != item.campaign_id:
            return False
        address = (lead.email or "").lower()
        if address and s.get(Unsubscribe, address) is None:
            s.add(Unsubscribe(email=address, at=item.at, campaign_id=item.campaign_id))
        same = [lead] if not address else list(s.execute(select(Lead).where(Lead.email == lead.email)).scalars())
        for other in same:
            if other.unsubscribed_at is None:
                s.execute(update(Lead).where(Lead.id == other.id).values(unsubscribed_at=item.at))
                rows.append((other.campaign_id, other.id, other.key, "unsubscribe", None, None, None, item.at,
                             "tracking", "pending", "[]"))
        s.flush()
        return True

"""Jobs that wake workers, deferred in the engine's own transactions.

The engine's tables stay the source of truth; procrastinate only carries
"there is work for these leads at this time" to whichever worker is free:

- ``wake_shard(campaign, shard)``: play the due waits and events of the
  leads in one shard (``lead_id % shards``). The job's ``lock`` is the
  shard, so one lead's events are always handled oldest first by one worker
  at a time. A lock per shard rather than per lead keeps the batched engine:
  one job plays a whole shard's due work in a few queries.
- Waits are jobs with ``scheduled_at``: every batch that writes pending waits
  defers one wake job per shard and half second (or joins one still queued)
  and records the job on the waits; when exclusive mode revokes the last
  pending wait of a job, the job is cancelled. Events get wake jobs of their
  own kind, so cancelling a wait's job never drops an event's wake.
- ``deliver_shard(campaign, shard)``: send a shard's queued emails through
  the outbox; sends that must be retried (with the outbox's exponential
  backoff and jitter) get a new job at their next attempt time.

Jobs are inserted with procrastinate's own ``procrastinate_defer_jobs_v1``
on the engine's connection, inside the batch's transaction: the wait row and
the job that will fire it commit together or not at all. Every transition is
a compare-and-set, so a job run twice (a retried or stalled job) finds its
work already done and changes nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Optional

from sqlalchemy import any_, exists, false, func, select, true
from sqlalchemy.orm import Session, aliased

from engine.store.bulk import execute_many, fetch_all
from engine.store.models import Wait
from engine.store.statements import PARAM, sql, update

QUEUE = "mailbranch"
TASK_WAKE = "mailbranch.wake_shard"
TASK_DELIVER = "mailbranch.deliver_shard"
DEFAULT_SHARDS = 64


#: (job id, wait id): the job that wakes a worker for this wait.
_SET_JOB = update(Wait.job_id, where=(Wait.id == PARAM,))
_REVOKED = select(Wait.job_id.label("id")).distinct().where(Wait.id == any_(PARAM), Wait.job_id.is_not(None)) \
    .subquery("j")
_OTHER = aliased(Wait, name="w")
#: (revoked wait ids): cancel the jobs no pending wait needs any more.
_CANCEL_JOBS = sql(select(func.procrastinate_cancel_job_v1(_REVOKED.c.id, false(), true()))
                   .where(~exists().where(_OTHER.job_id == _REVOKED.c.id, _OTHER.state == "pending")), "postgresql")


def _ts(ms: Optional[int]) -> Optional[datetime]:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


def defer_jobs(session: Session, jobs: list[tuple[str, str, dict, Optional[int]]]) -> list[int]:
    """Insert (task, lock, args, scheduled_at ms) jobs in this transaction; returns their ids in order."""
    ids: list[int] = []
    for start in range(0, len(jobs), 500):
        part = jobs[start:start + 500]
        rows = ", ".join("ROW(?, ?, 0, ?, NULL, CAST(? AS jsonb), CAST(? AS timestamptz))"
                         "::procrastinate_job_to_defer_v1" for _ in part)
        params: list = []
        for task, lock, args, at in part:
            params += [QUEUE, task, lock, json.dumps(args), _ts(at)]
        got = fetch_all(session, f"SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[{rows}]))", params)
        # Map ids back through their arguments rather than trusting row order.
        by_key = {}
        for job_id, args in fetch_all(session, "SELECT id, args FROM procrastinate_jobs WHERE id = ANY(?)",
                                      ([r[0] for r in got],)):
            by_key.setdefault(json.dumps(args if isinstance(args, dict) else json.loads(args), sort_keys=True),
                              []).append(job_id)
        for _task, _lock, args, _at in part:
            ids.append(by_key[json.dumps(args, sort_keys=True)].pop())
    return ids


class ShardJobs:
    """The ``RunContext.jobs`` hook of a campaign run by scale-out workers."""

    def __init__(self, campaign_id: int, shards: int = DEFAULT_SHARDS, grace_ms: int = 1000) -> None:
        self.campaign_id = campaign_id
        self.shards = shards
        #: Wake a little after the due time, so tracking events committed a
        #: moment late still take their place in time (see runtime/runner.py).
        self.grace_ms = grace_ms

    def shard(self, lead_id: int) -> int:
        return lead_id % self.shards

    def lock(self, shard: int) -> str:
        return f"mailbranch-c{self.campaign_id}-s{shard}"

    def _slot(self, at: int) -> int:
        """When to wake for work due at ``at``: after the grace, rounded up to the half second,
        so the many waits and events scattered over time share a few jobs a second."""
        step = 500
        return -(-(at + self.grace_ms) // step) * step

    def _queued(self, session: Session, task: str, locks: Iterable[str], kind: Optional[str] = None
                ) -> dict[tuple[str, Optional[int]], int]:
        """Jobs of ``task`` still waiting in the queue for these locks: (lock, time ms) -> job id."""
        locks = sorted(set(locks))
        if not locks:
            return {}
        sql = "SELECT id, lock, scheduled_at FROM procrastinate_jobs WHERE status = 'todo' AND task_name = ?" \
              " AND lock = ANY(?)"
        args: tuple = (task, locks)
        if kind is not None:
            sql, args = sql + " AND args->>'kind' = ?", (*args, kind)
        return {(lock, int(when.timestamp() * 1000) if when else None): job_id
                for job_id, lock, when in fetch_all(session, sql, args)}

    def wake_jobs_for_waits(self, session: Session, waits: Iterable[tuple[int, int, int]]) -> None:
        """One wake job per (shard, half second) for these (wait id, lead id, due), recorded on
        the waits; a job still queued from an earlier batch is joined rather than doubled."""
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for wait_id, lead_id, due in waits:
            groups[(self.shard(lead_id), self._slot(due))].append(wait_id)
        if not groups:
            return
        existing = self._queued(session, TASK_WAKE, (self.lock(shard) for shard, _when in groups), "waits")
        fresh = [key for key in groups if (self.lock(key[0]), key[1]) not in existing]
        ids = defer_jobs(session, [(TASK_WAKE, self.lock(shard), {"campaign_id": self.campaign_id, "shard": shard,
                                                                  "due": when - self.grace_ms, "kind": "waits"},
                                    when) for shard, when in fresh])
        job_of = {key: existing.get((self.lock(key[0]), key[1])) for key in groups}
        job_of.update(zip(fresh, ids, strict=True))
        execute_many(session, _SET_JOB,
                     [(job_of[key], wait_id) for key, wait_ids in groups.items() for wait_id in wait_ids])

    def wake_now(self, session: Session, lead_ids: Iterable[int], at: int) -> None:
        """Wake the shards of these leads (new events) just after ``at``."""
        self.wake_at(session, [(lead, at) for lead in lead_ids])

    def wake_at(self, session: Session, items: Iterable[tuple[int, int]]) -> None:
        """Wake the shards of these (lead, at) events, one job per shard and half second.

        Events get jobs of their own kind, so cancelling a wait's job never drops an event's wake.
        """
        keys = sorted({(self.shard(lead), self._slot(at)) for lead, at in items})
        queued = self._queued(session, TASK_WAKE, (self.lock(shard) for shard, _when in keys), "events")
        defer_jobs(session, [(TASK_WAKE, self.lock(shard), {"campaign_id": self.campaign_id, "shard": shard,
                                                            "due": when - self.grace_ms, "kind": "events"},
                              when) for shard, when in keys if (self.lock(shard), when) not in queued])

    def deliver(self, session: Session, lead_ids: Iterable[int], at: Optional[int] = None) -> None:
        """Wake the outbox of these leads' shards (at once, or at ``at`` for a retry)."""
        shards = sorted({self.shard(lead) for lead in lead_ids})
        if at is None:  # a delivery already waiting in the queue will send these too
            queued = {lock for lock, _when in self._queued(session, TASK_DELIVER, map(self._outbox_lock, shards))}
            shards = [shard for shard in shards if self._outbox_lock(shard) not in queued]
        defer_jobs(session, [(TASK_DELIVER, self._outbox_lock(shard),
                              {"campaign_id": self.campaign_id, "shard": shard, "at": at}, at)
                             for shard in shards])

    def _outbox_lock(self, shard: int) -> str:
        return f"mailbranch-c{self.campaign_id}-out{shard}"

    # -- the hook the batch calls --------------------------------------------------
    def after_batch(self, session: Session, batch) -> None:
        new_waits = [(w.id, w.lead_id, w.due_at) for w in batch.waits.values() if w.new and w.state == "pending"]
        self.wake_jobs_for_waits(session, new_waits)
        revoked = [w.id for w in batch.waits.values() if w.dirty and not w.new and w.state == "revoked"]
        if revoked:
            fetch_all(session, _CANCEL_JOBS, (revoked,))
        queued = [x.lead_id for x in batch.sends.values() if x.new and x.status == "queued"]
        if queued:
            self.deliver(session, queued)

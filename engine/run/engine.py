"""The campaign engine: enrol leads, then play due work in time order.

``CampaignEngine`` is the one entry point the simulator, the headless runner
and the app's engine process use; only the clock and the delivery differ.
Each call to ``process_until`` works in batches (see ``batch.py``), each one
transaction; a batch that loses a compare-and-set race is rolled back and
played again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from engine.faults import crash_point
from engine.flow.fileformat import dumps_flow, loads_flow
from engine.flow.model import Flow
from engine.observe.logs import op
from engine.observe.metrics import METRICS, EngineMetrics
from engine.run.batch import EVENT, WAIT, Batch, ConcurrentTransition, chunks
from engine.run.batch_statements import INSERT_TOKEN, INSERT_WAIT
from engine.run.clock import Clock
from engine.run.context import RunContext
from engine.run.ids import IdAllocator
from engine.run.spec import CampaignSpec
from engine.run.state import EventState
from engine.store.bulk import begin_write, execute_many, fetch_all
from engine.store.database import Database
from engine.store.models import Campaign, CampaignVersion, EdgeCount, Event, Lead, Wait
from engine.store.statements import PARAM, sql

log = logging.getLogger("mailbranch.engine")
FOREVER = 2**62

# The next due work, oldest first: (campaign, up to, [shards, shard,] how many).
_DUE_WAITS = select(Wait.id, Wait.lead_id, Wait.due_at).where(
    Wait.campaign_id == PARAM, Wait.state == "pending", Wait.due_at <= PARAM)
_DUE_EVENTS = select(Event.id, Event.lead_id, Event.type, Event.node, Event.send_id, Event.url, Event.at,
                     Event.machine).where(Event.campaign_id == PARAM, Event.state == "pending", Event.at <= PARAM)
DUE_WAITS = sql(_DUE_WAITS.order_by(Wait.due_at, Wait.id).limit(PARAM))
DUE_EVENTS = sql(_DUE_EVENTS.order_by(Event.at, Event.id).limit(PARAM))
DUE_WAITS_OF_SHARD = sql(_DUE_WAITS.where(func.mod(Wait.lead_id, PARAM) == PARAM)
                         .order_by(Wait.due_at, Wait.id).limit(PARAM))
DUE_EVENTS_OF_SHARD = sql(_DUE_EVENTS.where(func.mod(Event.lead_id, PARAM) == PARAM)
                          .order_by(Event.at, Event.id).limit(PARAM))


@dataclass
class LeadInput:
    key: str
    email: Optional[str] = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class EnrollResult:
    added: int
    already_enrolled: int


class CampaignEngine:
    def __init__(self, db: Database, campaign_id: int, clock: Clock, batch_size: int = 10000,
                 ids: Optional[IdAllocator] = None, metrics: Optional[EngineMetrics] = None) -> None:
        self.db = db
        self.metrics = metrics or METRICS
        self.campaign_id = campaign_id
        self.clock = clock
        self.batch_size = batch_size
        with db.session() as s:
            campaign = s.get(Campaign, campaign_id)
            if campaign is None:
                raise LookupError(f"there is no campaign {campaign_id} in {db.url}")
            self.flow: Flow = loads_flow(campaign.flow_json)
            #: The version of the flow this engine plays (SEMANTICS 11); see ``_follow_version``.
            self.version: int = campaign.version
            settings = dict(campaign.settings or {})
            self.started_at = campaign.started_at
            self.delivery = campaign.delivery
            self.name = campaign.name
            self.uid = campaign.uid
        self.settings = settings
        self.spec = CampaignSpec(self.flow, settings.get("mode"))
        rate = settings.get("send_rate")
        self.ctx = RunContext(campaign_id, self.spec, clock, ids or IdAllocator(), delivery=self.delivery,
                              checks_unsubscribes=True,
                              # SEMANTICS 9: a simulation delivers at once unless it has a send rate;
                              # the app's simulations (campaign clock, sandbox) too. Real runs wait.
                              instant_delivery=not rate and (self.delivery == "simulated" or clock.simulated),
                              send_interval_ms=1000.0 / float(rate) if rate else None)
        self.ctx.campaign_uid = self.uid
        if settings.get("distributed"):
            from engine.scale.jobs import DEFAULT_SHARDS, ShardJobs

            self.ctx.jobs = ShardJobs(campaign_id, int(settings.get("shards", DEFAULT_SHARDS)))
        self.rows_written = 0

    # -- creating ----------------------------------------------------------
    @classmethod
    def create(cls, db: Database, flow: Flow, clock: Clock, *, name: Optional[str] = None,
               delivery: str = "simulated", mode: Optional[str] = None,
               settings: Optional[dict[str, Any]] = None, **kwargs: Any) -> CampaignEngine:
        """Store the flow as this campaign's spec and start its clock now."""
        extra = dict(settings or {})
        if mode:
            extra["mode"] = mode
        with db.session() as s:
            campaign = Campaign(name=name or flow.name, flow_json=dumps_flow(flow), state="running",
                                delivery=delivery, started_at=clock.now(), open_tracked=0, settings=extra)
            s.add(campaign)
            s.flush()
            campaign_id = campaign.id
            s.add(CampaignVersion(campaign_id=campaign_id, number=1, flow_json=campaign.flow_json,
                                  published_at=campaign.started_at))
        return cls(db, campaign_id, clock, **kwargs)

    def enroll(self, leads: Iterable[LeadInput]) -> EnrollResult:
        """Give every new lead its original token at start, due at once.

        Idempotent by lead key, so re-running a command after Ctrl-C enrols
        only the leads that were not in yet. All in one transaction: the
        campaign's count of open tracked tokens moves with the tokens.
        """
        at = self.clock.now()
        leads = list(leads)
        for _attempt in range(3):
            try:
                with self.db.session() as s:
                    begin_write(s)
                    result = self._enroll(s, leads, at)
                return result
            except ConcurrentTransition:
                self.ctx.ids.forget()
        raise RuntimeError("could not enrol leads: the database kept changing under the engine")

    def _enroll(self, s: Session, leads: list[LeadInput], at: int) -> EnrollResult:
        lead_table = Lead.__table__
        existing = {r.key for r in s.execute(select(lead_table.c.key)
                                             .where(lead_table.c.campaign_id == self.campaign_id))}
        fresh: dict[str, LeadInput] = {}
        for lead in leads:
            if lead.key not in existing and lead.key not in fresh:
                fresh[lead.key] = lead
        for part in chunks(fresh.values()):
            s.execute(insert(lead_table), [{"campaign_id": self.campaign_id, "key": x.key, "email": x.email,
                                            "fields": x.fields} for x in part])
        ids = {r.key: r.id for r in s.execute(select(lead_table.c.id, lead_table.c.key)
                                               .where(lead_table.c.campaign_id == self.campaign_id))}
        start = self.spec.start
        allocate = self.ctx.ids.take
        for part in chunks(fresh):
            tokens, waits = [], []
            for key in part:
                lead_id = ids[key]
                token_id = allocate(s, "tokens")
                tokens.append((token_id, self.campaign_id, lead_id, None, start, "waiting", True, None, None,
                               at, None, 0))
                waits.append((allocate(s, "waits"), self.campaign_id, token_id, lead_id, start, at, "pending",
                              None, at))
            execute_many(s, INSERT_TOKEN, tokens)
            execute_many(s, INSERT_WAIT, waits)
            if self.ctx.jobs is not None:
                self.ctx.jobs.wake_jobs_for_waits(s, [(w[0], w[3], w[5]) for w in waits])
        campaign = s.get(Campaign, self.campaign_id)
        campaign.open_tracked += len(fresh)
        if campaign.complete_at is None and campaign.open_tracked == 0:
            campaign.complete_at = at
            campaign.state = "complete"
        self.rows_written += 3 * len(fresh)
        return EnrollResult(len(fresh), len(leads) - len(fresh))

    # -- events --------------------------------------------------------------
    def record_events(self, events: Iterable[dict[str, Any]], source: str = "simulated") -> int:
        """Record opens and clicks to be handled in time order.

        Each dict has ``type`` and ``at`` (ms), the lead as ``lead_id`` or
        ``lead`` (its key), and the send as ``send_id`` or ``email`` (node id),
        plus ``url`` for clicks. An unknown lead is recorded and changes
        nothing. Returns how many were recorded.
        """
        events = list(events)
        with self.db.session() as s:
            keys = {e["lead"] for e in events if e.get("lead_id") is None and e.get("lead") is not None}
            lead_ids: dict[str, int] = {}
            lead_table = Lead.__table__
            for part in chunks(keys):
                for r in s.execute(select(lead_table.c.id, lead_table.c.key).where(
                        lead_table.c.campaign_id == self.campaign_id, lead_table.c.key.in_(part))):
                    lead_ids[r.key] = r.id
            rows = []
            for e in events:
                lead_id = e.get("lead_id") or lead_ids.get(e.get("lead"))
                rows.append({"campaign_id": self.campaign_id, "lead_id": lead_id,
                             "lead_key": e.get("lead"), "type": e["type"], "node": e.get("email"),
                             "send_id": e.get("send_id"), "url": e.get("url"), "at": int(e["at"]),
                             "machine": bool(e.get("machine")),
                             "source": source, "state": "pending", "triggered": "[]"})
            for part in chunks(rows):
                s.execute(insert(Event.__table__), part)
            if self.ctx.jobs is not None:
                self.ctx.jobs.wake_at(s, [(r["lead_id"], r["at"]) for r in rows if r["lead_id"] is not None])
        return len(events)

    def record_event(self, type: str, at: Optional[int] = None, **where: Any) -> None:
        self.record_events([{"type": type, "at": self.clock.now() if at is None else at, **where}])

    # -- playing due work ----------------------------------------------------
    def next_due(self) -> Optional[int]:
        """When the next wait is due or the oldest pending event happened."""
        with self.db.session() as s:
            wait = s.execute(select(func.min(Wait.due_at)).where(
                Wait.campaign_id == self.campaign_id, Wait.state == "pending")).scalar()
            event = s.execute(select(func.min(Event.at)).where(
                Event.campaign_id == self.campaign_id, Event.state == "pending")).scalar()
        due = [t for t in (wait, event) if t is not None]
        return min(due) if due else None

    def process_until(self, limit: Optional[int] = None, shard: Optional[tuple[int, int]] = None) -> int:
        """Play everything due at or before ``limit`` (default: now); returns items played.

        ``shard=(index, count)`` limits the work to leads with ``id % count ==
        index``: a scale-out worker holding that shard's lock plays them, and a
        lead's work is never played by two workers at once.
        """
        if limit is None:
            limit = self.clock.now()
        total = 0
        while True:
            played = self._one_batch(limit, shard)
            if played == 0:
                return total
            total += played

    def run_to_end(self, until: Optional[int] = None) -> int:
        """Simulation: play all work there is, jumping the simulated clock."""
        return self.process_until(FOREVER if until is None else until)

    def _one_batch(self, limit: int, shard: Optional[tuple[int, int]] = None) -> int:
        for _attempt in range(5):
            try:
                with self.db.session() as s:
                    begin_write(s)
                    played, batch = self._play_batch(s, limit, shard)
                crash_point("after_commit")
                if batch is not None:
                    self._observe(batch)
                return played
            except ConcurrentTransition as exc:
                log.info("batch retried: %s", exc)
                self.metrics.batch_conflicts.inc()
                self._forget()
            except BaseException:
                self._forget()
                raise
        raise RuntimeError("a batch kept conflicting with another worker; giving up for now")

    def _forget(self) -> None:
        """After a rollback: what was handed out inside it is read again."""
        self.ctx.ids.forget()
        self.ctx.last_slot = None

    def _observe(self, batch: Batch) -> None:
        """Metrics and the per-operation log, for a batch that has committed."""
        m, stats = self.metrics, batch.stats
        m.sends.inc(stats["sends"])
        m.skips.inc(stats["skips"])
        m.triggers.inc(stats["triggers"])
        m.timers.inc(stats["timers"])
        m.failures.inc(stats["failures"])
        for kind in ("open", "click"):
            m.events.labels(kind).inc(stats["event:" + kind])
        if not self.clock.simulated:
            for lag in batch.lags:
                m.timer_lag.observe(lag / 1000)
        for name, fields in batch.ops:
            op(name, campaign=self.campaign_id, **fields)

    def _play_batch(self, s: Session, limit: int, shard: Optional[tuple[int, int]] = None
                    ) -> tuple[int, Optional[Batch]]:
        self._follow_version(s)
        items, boundary = self._fetch_items(s, limit, shard)
        if not items:
            return 0, None
        batch = Batch(self.ctx, s, boundary)
        batch.load({item[3] for item in items if item[3] is not None})
        for key, rank, item_id, _lead, event in items:
            if rank == WAIT:
                wait = batch.waits.get(item_id)
                if wait is not None:
                    batch.schedule(key, WAIT, item_id, wait)
            else:
                batch.schedule(key, EVENT, item_id, event)
        crash_point("batch_loaded")
        batch.play()
        self.rows_written += batch.flush()
        self._flush_campaign(s, batch)
        crash_point("before_commit")
        return max(batch.processed, 1), batch

    def _fetch_items(self, s: Session, limit: int, shard: Optional[tuple[int, int]] = None
                     ) -> tuple[list[tuple], int]:
        n = self.batch_size
        waits_sql, events_sql, args = DUE_WAITS, DUE_EVENTS, ()
        if shard is not None:
            waits_sql, events_sql, args = DUE_WAITS_OF_SHARD, DUE_EVENTS_OF_SHARD, (shard[1], shard[0])
        waits = fetch_all(s, waits_sql, (self.campaign_id, limit, *args, n))
        events = fetch_all(s, events_sql, (self.campaign_id, limit, *args, n))
        items = [(due, WAIT, wait_id, lead_id, None) for wait_id, lead_id, due in waits]
        items += [(r[6], EVENT, r[0], r[1], EventState(*r[:7], machine=bool(r[7]))) for r in events]
        items.sort(key=lambda item: item[:3])
        if len(waits) < n and len(events) < n:
            return items, limit + 1  # everything due is here; new waits up to limit play too
        items = items[:n]
        last = items[-1][0]
        earlier = [item for item in items if item[0] < last]
        if earlier:
            return earlier, last
        # One instant with more work than a batch holds: split it in order.
        # Nothing new can fall into this instant (waits last longer than zero).
        return items, last

    def _follow_version(self, s: Session) -> None:
        """Play the version the campaign runs now: a flow published from another
        process or thread takes effect at the next batch (SEMANTICS 11). The
        key-share lock makes a publish (which locks the row for update) wait for
        the batches under way, and later batches wait for it, so no token walks
        half in one version and half in the other."""
        number = s.execute(select(Campaign.version).where(Campaign.id == self.campaign_id)
                           .with_for_update(read=True, key_share=True)).scalar_one()
        if number != self.version:
            flow_json = s.execute(select(Campaign.flow_json).where(Campaign.id == self.campaign_id)).scalar_one()
            self.use_flow(loads_flow(flow_json), number)

    def use_flow(self, flow: Flow, number: int) -> None:
        """Play ``flow`` (version ``number``) from the next batch on."""
        self.flow, self.version = flow, number
        self.spec = CampaignSpec(flow, self.settings.get("mode"))
        self.ctx.spec = self.spec
        self.ctx._domains.clear()

    def flush_campaign(self, s: Session, batch: Batch) -> None:
        """Apply a batch's tracked-token changes and edge counts (publishing walks tokens too)."""
        self._flush_campaign(s, batch)

    def _flush_campaign(self, s: Session, batch: Batch) -> None:
        """Apply the batch's tracked-token changes; complete the campaign at the
        instant the count of open tracked tokens reached zero (SEMANTICS 6)."""
        delta = sum(change for _at, change in batch.tracked_changes)
        after, complete_at = s.execute(
            update(Campaign).where(Campaign.id == self.campaign_id)
            .values(open_tracked=Campaign.open_tracked + delta)
            .returning(Campaign.open_tracked, Campaign.complete_at)).one()
        if complete_at is None:
            count = after - delta
            for at, change in batch.tracked_changes:
                count += change
                if count <= 0:
                    s.execute(update(Campaign).where(Campaign.id == self.campaign_id)
                              .values(complete_at=at, state="complete"))
                    break
        if batch.edge_counts:
            table = EdgeCount.__table__
            for (node, port), count in batch.edge_counts.items():
                hit = s.execute(update(table).where(table.c.campaign_id == self.campaign_id,
                                                    table.c.node == node, table.c.port == port)
                                .values(count=table.c.count + count)).rowcount
                if not hit:
                    s.execute(insert(table).values(campaign_id=self.campaign_id, node=node, port=port,
                                                   count=count))

    # -- reading -------------------------------------------------------------
    def campaign_row(self) -> dict[str, Any]:
        with self.db.session() as s:
            c = s.get(Campaign, self.campaign_id)
            return {"id": c.id, "name": c.name, "state": c.state, "started_at": c.started_at,
                    "complete_at": c.complete_at, "open_tracked": c.open_tracked,
                    "settings": json.loads(json.dumps(c.settings or {}))}

    @property
    def complete_at(self) -> Optional[int]:
        return self.campaign_row()["complete_at"]

"""Real events into the engine: the tracking server's sink, with group commit.

Each open, click or unsubscribe names its campaign by the world-unique uid its
token carries, and is checked against the database (is that a campaign here,
does this send belong to it?) before it is recorded as a pending event, which
the engine then handles exactly like a simulated one. A token from another
database or an older campaign records nothing in any campaign (SEMANTICS 12);
an unsubscribe still puts the address it carries on the suppression list.
Requests that arrive while a commit is under way wait for the next one and
share it, so thousands of events a second cost a few dozen transactions, and
each request is answered only once its event is safely stored.

Opens and clicks arrive classified by the request rules (``machine=`` a
reason); the context rules are applied here, where the send's delivery time
and the message's other clicks are known: a click within seconds of delivery,
or one of many links of a message clicked within a second, is a machine's
(``engine/tracking/machine.py``). Events pulled from the public relay come in
through ``write_synced`` with a key each, so one pulled twice is recorded once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, Union

from sqlalchemy import func, select, update

from engine.faults import crash_point
from engine.store import suppression
from engine.store.bulk import begin_write, execute_many, fetch_all, insert_sql
from engine.store.database import Database
from engine.store.models import Campaign, Event, Lead, Send
from engine.store.statements import PARAM, expand, in_params, sql
from engine.store.statements import update as update_sql
from engine.tracking.machine import BURST, BurstWatch, MachineRules, default_rules

log = logging.getLogger("mailbranch.sink")

INSERT_EVENT = insert_sql(Event.campaign_id, Event.lead_id, Event.lead_key, Event.type, Event.node, Event.send_id,
                          Event.url, Event.at, Event.source, Event.state, Event.triggered)
#: Opens, clicks and unsubscribes: with who made them and, when synced from the relay, its key.
INSERT_TRACKED = insert_sql(Event.campaign_id, Event.lead_id, Event.lead_key, Event.type, Event.node, Event.send_id,
                            Event.url, Event.at, Event.source, Event.state, Event.triggered, Event.machine,
                            Event.relay_key, skip_conflicts_on=(Event.relay_key,))
#: (machine, campaign, at, send, url): an earlier click of a burst, still pending.
MARK_BURST = update_sql(Event.machine, where=(Event.campaign_id == PARAM, Event.state == "pending", Event.at == PARAM,
                                              Event.send_id == PARAM, Event.type == "click", Event.url == PARAM))
#: The sends these events name (``expand`` for their number).
SENDS_NAMED = sql(select(Send.id, Send.campaign_id, Send.lead_id, Send.node, Send.sent_at).where(in_params(Send.id)))

#: A campaign as a caller names it: the integer id (the CLI and the control API,
#: inside this database), the uid a tracking token carries, or None (a token made
#: by release 0.1, whose integer id means nothing safe any more).
CampaignRef = Union[int, str, None]

#: What an unsubscribe did.
UNSUBSCRIBED = "unsubscribed"  # recorded in its campaign here, and the address suppressed
SUPPRESSED = "suppressed"  # the campaign is not here: only the address went on the suppression list
UNKNOWN = "unknown"  # nothing says which address it was (a release 0.1 token for another campaign)


@dataclass
class _Item:
    kind: str  # open | click | unsubscribe
    campaign: CampaignRef
    ref: int  # send id, or lead id for an unsubscribe
    url: Optional[str]
    at: Optional[int]
    future: asyncio.Future
    email: Optional[str] = None  # for an unsubscribe: the address its token carries
    campaign_id: Optional[int] = None  # resolved before writing
    machine: Optional[str] = None  # why it is a machine's event (None: the reader's)
    relay_key: Optional[str] = None  # synced from the relay: its unique key
    wall: bool = True  # ``at`` is wall-clock time (not a simulated campaign's clock)


def _as_int(value: object) -> Optional[int]:
    if isinstance(value, bool):
        return None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class EngineSink:
    """Implements ``engine.delivery.tracking_server.TrackingSink``."""

    def __init__(self, db: Database, on_recorded: Optional[Callable[[], None]] = None,
                 clock_ms: Optional[Callable[[], int]] = None,
                 campaign_time: Optional[Callable[[int], Optional[int]]] = None,
                 rules: Optional[MachineRules] = None) -> None:
        self.db = db
        #: The context rules for machine events, and the recent clicks they look at.
        self.rules = rules or default_rules()
        self.bursts = BurstWatch(self.rules)
        #: Apply "a click within seconds of delivery is a scanner's": off when the
        #: emails go to the local sandbox, where no mail gateway scans links.
        self.delivery_rule = True
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
        #: Genuine tokens whose campaign is not here or whose send is not that
        #: campaign's: answered normally, recorded nowhere.
        self.foreign = 0
        #: uid -> integer id of this database's campaigns (a uid never changes).
        self._campaign_ids: dict[str, int] = {}

    async def record_open(self, campaign: CampaignRef, send_id, at: int, machine: Optional[str] = None) -> bool:
        """True if the open was recorded; False when its campaign or send is not here."""
        return await self._submit("open", campaign, send_id, None, at, machine=machine)

    async def record_click(self, campaign: CampaignRef, send_id, url: str, at: int,
                           machine: Optional[str] = None) -> bool:
        return await self._submit("click", campaign, send_id, url, at, machine=machine)

    async def unsubscribe(self, campaign: CampaignRef, lead_id, email: Optional[str] = None) -> str:
        """Honour an unsubscribe: ``UNSUBSCRIBED``, ``SUPPRESSED`` or ``UNKNOWN`` (see above)."""
        return await self._submit("unsubscribe", campaign, lead_id, None, None, email)

    async def _submit(self, kind: str, campaign: CampaignRef, ref, url: Optional[str], at: Optional[int],
                      email: Optional[str] = None, machine: Optional[str] = None):
        rid = _as_int(ref)
        if isinstance(campaign, bool) or not isinstance(campaign, (int, str, type(None))):
            campaign = None
        if rid is None or (campaign is None and not email):
            self.foreign += 1
            return UNKNOWN if kind == "unsubscribe" else False
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(kind, campaign, rid, url, at, future, email, machine=machine))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
        return await future

    async def _flush_loop(self) -> None:
        while self._queue:
            items, self._queue = self._queue, []
            try:
                await self._resolve(items)
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
            if any(r is True or r == UNSUBSCRIBED for r in results) and self.on_recorded is not None:
                self.on_recorded()

    async def _resolve(self, items: list[_Item]) -> None:
        """Each item's campaign as this database's integer id (None: not here), and its time."""
        unknown = {i.campaign for i in items if isinstance(i.campaign, str) and i.campaign not in self._campaign_ids}
        if unknown:
            self._campaign_ids.update(await asyncio.to_thread(self._campaigns_by_uid, sorted(unknown)))
        for item in items:
            if isinstance(item.campaign, str):
                item.campaign_id = self._campaign_ids.get(item.campaign)
            elif isinstance(item.campaign, int):
                item.campaign_id = item.campaign
            if item.campaign_id is not None and self.campaign_time is not None:
                own = self.campaign_time(item.campaign_id)
                if own is not None:
                    item.at, item.wall = own, False
            if item.at is None:
                item.at = self.clock_ms() if self.clock_ms else time.time_ns() // 1_000_000

    def _campaigns_by_uid(self, uids: list[str]) -> dict[str, int]:
        with self.db.session() as s:
            return {uid: cid for uid, cid in s.execute(select(Campaign.uid, Campaign.id).where(Campaign.uid.in_(uids)))}

    async def _write_retrying(self, items: list[_Item], after: Optional[Callable[[object], None]] = None) -> list:
        """SQLite refuses at once (busy timeout or not) a transaction that read and
        then wants to write while another connection writes: try it again."""
        for attempt in range(8):
            try:
                return await asyncio.to_thread(self._write, items, after)
            except Exception as exc:  # noqa: BLE001 - only "locked" is retried
                if attempt == 7 or "database is locked" not in str(exc):
                    raise
                await asyncio.sleep(0.05 * 2 ** attempt)
        raise AssertionError("unreachable")

    async def write_synced(self, items: list[tuple], after: Callable[[object], None]) -> list:
        """Record events pulled from the relay, in one transaction that also runs ``after``
        (which moves the sync cursor). Each item is (key, kind, campaign uid, send or
        lead id, url, email, at, machine reason); returns what each one did."""
        loop = asyncio.get_running_loop()
        batch = []
        for key, kind, campaign, ref, url, email, at, machine in items:
            rid = _as_int(ref)
            if isinstance(campaign, bool) or not isinstance(campaign, (str, type(None))):
                campaign = None
            batch.append(_Item(kind, campaign, rid if rid is not None else -1, url, at, loop.create_future(), email,
                               machine=machine, relay_key=key))
        await self._resolve(batch)
        results = await self._write_retrying(batch, after)
        if any(r is True or r == UNSUBSCRIBED for r in results) and self.on_recorded is not None:
            self.on_recorded()
        return results

    def _classify(self, s, item: _Item, delivered_at: Optional[int], rows: list[tuple]) -> None:
        """The context rules: too soon after delivery, or one link of a burst."""
        if item.machine is None and item.wall and self.delivery_rule:
            item.machine = self.rules.too_soon(item.kind, item.at, delivered_at)
        if item.kind != "click" or not item.wall:
            return
        tag = (item.ref, item.url or "", item.at)
        for send_id, url, at in self.bursts.note(item.ref, item.url, item.at, tag):
            if (send_id, url, at) == tag:
                item.machine = item.machine or BURST
                continue
            for index, row in enumerate(rows):  # an earlier click of this burst, in this transaction
                if row[5] == send_id and row[3] == "click" and row[6] == url and row[7] == at and not row[11]:
                    rows[index] = (*row[:11], BURST, row[12])
            execute_many(s, MARK_BURST, [(True, item.campaign_id, at, send_id, url)])

    def _write(self, items: list[_Item], after: Optional[Callable[[object], None]] = None) -> list:
        """One transaction for all queued items; returns what each one did."""
        with self.db.session() as s:
            begin_write(s)
            send_ids = sorted({i.ref for i in items if i.kind != "unsubscribe" and i.campaign_id is not None})
            sends: dict[int, tuple[int, int, str, Optional[int]]] = {}
            for start in range(0, len(send_ids), 5000):
                part = send_ids[start:start + 5000]
                for send_id, campaign_id, lead_id, node, sent_at in fetch_all(s, expand(SENDS_NAMED, len(part)),
                                                                              part):
                    sends[send_id] = (campaign_id, lead_id, node, sent_at)
            rows, results = [], []
            foreign = 0
            for item in items:
                if item.kind == "unsubscribe":
                    outcome = self._unsubscribe(s, item, rows)
                    foreign += outcome != UNSUBSCRIBED
                    results.append(outcome)
                    continue
                known = sends.get(item.ref)
                if item.campaign_id is None or known is None or known[0] != item.campaign_id:
                    foreign += 1
                    results.append(False)
                    continue
                self._classify(s, item, known[3], rows)
                rows.append((item.campaign_id, known[1], None, item.kind, known[2], item.ref, item.url, item.at,
                             "tracking", "pending", "[]", item.machine is not None, item.relay_key))
                results.append(True)
            execute_many(s, INSERT_TRACKED, rows)
            if rows and self.on_events is not None:
                self.on_events(s, [(r[0], r[1], r[7]) for r in rows])
            if after is not None:
                after(s)
            crash_point("sink_before_commit")
        self.commits += 1
        self.recorded += len(rows)
        self.foreign += foreign
        return results

    def _unsubscribe(self, s, item: _Item, rows: list[tuple]) -> str:
        """Put the address on the suppression list; if the token's lead is one of
        this database's (its campaign, its address), also finish its tokens in
        every campaign here that has the address (SEMANTICS 12)."""
        lead = s.get(Lead, item.ref) if item.campaign_id is not None else None
        if lead is not None and lead.campaign_id != item.campaign_id:
            lead = None
        if lead is not None and item.email is not None and suppression.normalise(lead.email or "") != \
                suppression.normalise(item.email):
            lead = None  # the lead's address is not the one that email went to
        address = item.email or (lead.email if lead is not None else None)
        if not address:
            return UNKNOWN
        uid = item.campaign if isinstance(item.campaign, str) else None
        if uid is None and item.campaign_id is not None:
            uid = s.execute(select(Campaign.uid).where(Campaign.id == item.campaign_id)).scalar()
        try:
            suppression.add(s, address, "unsubscribe", at=item.at, campaign_uid=uid)
        except suppression.SuppressionError as exc:
            log.warning("unsubscribe for an address that cannot be listed (%s); nothing recorded", exc)
            return UNKNOWN
        if lead is None:
            return SUPPRESSED
        normal = suppression.normalise(address)
        same = list(s.execute(select(Lead).where(func.lower(Lead.email) == normal)).scalars())
        if lead.id not in {other.id for other in same}:
            same.append(lead)
        for other in same:
            if other.unsubscribed_at is None:
                s.execute(update(Lead).where(Lead.id == other.id).values(unsubscribed_at=item.at))
                key = f"{item.relay_key}/{other.id}" if item.relay_key else None
                rows.append((other.campaign_id, other.id, other.key, "unsubscribe", None, None, None, item.at,
                             "tracking", "pending", "[]", False, key))
        s.flush()
        return UNSUBSCRIBED

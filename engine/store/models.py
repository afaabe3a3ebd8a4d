"""The run's state as typed tables: campaigns, leads, tokens, sends, waits,
listeners, events. The flow itself (the spec) is stored once per campaign as
JSON and never changes while the campaign runs.

Times are integer milliseconds since the Unix epoch, the engine's unit: an
instant is exact, so "an event at the very instant a wait ends" is well
defined. Ids of tokens and sends are allocated by the engine (it needs them
before it writes, to link rows in one batch); events get database ids
because the tracking server and the CLI insert them from other places.
"""

from __future__ import annotations

import secrets
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid; BigInteger there
# would lose autoincrement.
Id = BigInteger().with_variant(Integer(), "sqlite")


def new_campaign_uid() -> str:
    """A campaign id no other database shares (22 url-safe characters, 128 random bits).

    Tracking tokens and Message-IDs carry it instead of the integer id, which
    counts from 1 in every database (SEMANTICS 12).
    """
    return secrets.token_urlsafe(16)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    #: World-unique, made when the campaign is created (see ``new_campaign_uid``).
    uid: Mapped[str] = mapped_column(String(32), unique=True, index=True, default=new_campaign_uid)
    name: Mapped[str] = mapped_column(String(200))
    flow_json: Mapped[str] = mapped_column(Text)
    #: running | complete | stopped
    state: Mapped[str] = mapped_column(String(16), default="running")
    #: simulated | real: whether sends go to the simulated outbox or SMTP.
    delivery: Mapped[str] = mapped_column(String(16), default="simulated")
    started_at: Mapped[int] = mapped_column(BigInteger)
    complete_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    #: Tracked tokens not yet finished; the campaign completes when it reaches 0.
    open_tracked: Mapped[int] = mapped_column(BigInteger, default=0)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The number of the version it runs now (``CampaignVersion``); ``flow_json`` is that version's flow.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class CampaignVersion(Base):
    """One flow a campaign has run (SEMANTICS 11): kept read-only, publishable back."""

    __tablename__ = "campaign_versions"
    __table_args__ = (UniqueConstraint("campaign_id", "number"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    #: 1 for the flow the campaign started with, then one more per publish (a rollback too).
    number: Mapped[int] = mapped_column(Integer)
    flow_json: Mapped[str] = mapped_column(Text)
    published_at: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[Optional[str]] = mapped_column(Text)
    #: JSON: what publishing it did to the leads in flight (moved, finished, re-timed), for the report.
    changes: Mapped[Optional[str]] = mapped_column(Text)


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    #: The id the marketer knows: the CSV's id column, the email, or lead-N.
    key: Mapped[str] = mapped_column(String(320))
    email: Mapped[Optional[str]] = mapped_column(String(320))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    unsubscribed_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    #: When the lead reached the campaign's goal (SEMANTICS 10); set once.
    converted_at: Mapped[Optional[int]] = mapped_column(BigInteger)


class Token(Base):
    """A lead's position in the flow. ``path`` maps email node -> send id on
    the token's own path; ``last_send`` is the nearest send (SEMANTICS 3)."""

    __tablename__ = "tokens"
    __table_args__ = (Index("ix_tokens_lead_state", "lead_id", "state"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
    parent_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    node: Mapped[str] = mapped_column(String(100))
    #: waiting | finished | failed
    state: Mapped[str] = mapped_column(String(16))
    tracked: Mapped[bool] = mapped_column(Boolean)
    #: JSON object, email node -> send id; text so the hot path decodes it only when needed.
    path: Mapped[Optional[str]] = mapped_column(Text)
    last_send: Mapped[Optional[int]] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    #: Bumped on every change; updates are compare-and-set on it.
    version: Mapped[int] = mapped_column(Integer, default=0)


class Send(Base):
    """One email node sent to one lead: at most one per (campaign, lead, node)."""

    __tablename__ = "sends"
    # Lead ids are unique across campaigns, so (lead, node) is "once per
    # campaign", and the same index serves loading a lead's sends.
    __table_args__ = (UniqueConstraint("lead_id", "node"), Index("ix_sends_outbox", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
    token_id: Mapped[int] = mapped_column(BigInteger)
    node: Mapped[str] = mapped_column(String(100))
    at: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str] = mapped_column(String(200))
    #: queued | sending | sent | failed | cancelled (lead unsubscribed);
    #: planned (a simulation with a send rate: delivered at ``next_attempt_at``).
    #: Simulated sends without a rate are sent the moment they are made.
    #: ``at`` is the queued instant until the engine plays the delivery, then the
    #: delivered instant (SEMANTICS 9: the send's time in reports and timelines).
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    #: While ``sending``: the lease; a send still ``sending`` after it was
    #: claimed by a worker that died, and is queued again by the sweep.
    claimed_until: Mapped[Optional[int]] = mapped_column(BigInteger)
    sent_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    error: Mapped[Optional[str]] = mapped_column(Text)
    opened_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    clicked_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    #: JSON list of the distinct URLs clicked, or NULL for none (most sends).
    clicked_urls: Mapped[Optional[str]] = mapped_column(Text)
    #: The same for machine events (privacy proxies, link scanners; SEMANTICS 5),
    #: which only conditions that count machine events see.
    machine_opened_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    machine_clicked_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    machine_clicked_urls: Mapped[Optional[str]] = mapped_column(Text)
    #: Came back from the recipient's server after a 250 (``engine/bounces``): when the hard
    #: bounce arrived and what it said; soft bounces counted; a spam complaint's instant.
    bounced_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    bounce: Mapped[Optional[str]] = mapped_column(Text)
    soft_bounces: Mapped[Optional[int]] = mapped_column(Integer)
    complained_at: Mapped[Optional[int]] = mapped_column(BigInteger)


class Skip(Base):
    """A token reached an email node and moved on without sending: the lead
    already had that email (paths joined), or its address is suppressed."""

    __tablename__ = "skips"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    lead_id: Mapped[int] = mapped_column(BigInteger)
    token_id: Mapped[int] = mapped_column(BigInteger)
    node: Mapped[str] = mapped_column(String(100))
    #: The earlier send the token watches from here on; None when nothing was
    #: ever sent (the address is on the suppression list).
    send_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    at: Mapped[int] = mapped_column(BigInteger)
    #: Why nothing was sent: ``already-sent`` (paths joined) or the suppression reason.
    reason: Mapped[Optional[str]] = mapped_column(String(32))


class Wait(Base):
    """A pending timer: the store of record (APScheduler only wakes the engine)."""

    __tablename__ = "waits"
    __table_args__ = (Index("ix_waits_due", "campaign_id", "state", "due_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    token_id: Mapped[int] = mapped_column(BigInteger)
    lead_id: Mapped[int] = mapped_column(BigInteger, index=True)
    node: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[int] = mapped_column(BigInteger)
    #: pending | fired | revoked
    state: Mapped[str] = mapped_column(String(16))
    fired_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    #: When the token began to wait: a re-timed wait keeps its start (SEMANTICS 11).
    started_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    #: Scale-out: the procrastinate job that wakes a worker for this wait.
    job_id: Mapped[Optional[int]] = mapped_column(BigInteger)


class Listener(Base):
    """A condition listening for an event on one send, until its NO wait ends."""

    __tablename__ = "listeners"
    __table_args__ = (Index("ix_listeners_lead_state", "lead_id", "state"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    lead_id: Mapped[int] = mapped_column(BigInteger)
    token_id: Mapped[int] = mapped_column(BigInteger)
    condition: Mapped[str] = mapped_column(String(100))
    send_id: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(8))
    url: Mapped[Optional[str]] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(16))
    since: Mapped[int] = mapped_column(BigInteger)
    until: Mapped[int] = mapped_column(BigInteger)
    #: listening | triggered | expired | revoked
    state: Mapped[str] = mapped_column(String(16))
    triggered_token: Mapped[Optional[int]] = mapped_column(BigInteger)


class Event(Base):
    """An open or click, recorded once; handled later, oldest first per lead."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_pending", "campaign_id", "state", "at"),
                      Index("ix_events_relay_key", "relay_key", unique=True))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    #: None when the event names a lead the campaign does not have.
    lead_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    lead_key: Mapped[Optional[str]] = mapped_column(String(320))
    #: open | click | unsubscribe (what the lead did); delivered | send_skipped |
    #: send_failed (what became of a send: moves or fails the token waiting on it).
    type: Mapped[str] = mapped_column(String(16))
    node: Mapped[Optional[str]] = mapped_column(String(100))
    send_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    url: Mapped[Optional[str]] = mapped_column(Text)
    at: Mapped[int] = mapped_column(BigInteger)
    #: simulated | tracking
    source: Mapped[str] = mapped_column(String(16), default="simulated")
    #: Made by a machine (privacy proxy, link scanner), not the lead (SEMANTICS 5).
    machine: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: pending | handled | orphan (no such send: recorded, changes nothing)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    #: JSON list of the conditions this event triggered ("[]": none, a late event).
    triggered: Mapped[str] = mapped_column(Text, default="[]")
    handled_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    #: ``<relay uid>:<relay event id>`` for an event synced from the public relay
    #: (unique: pulled twice, recorded once); None for every other event.
    relay_key: Mapped[Optional[str]] = mapped_column(String(64))


class EdgeCount(Base):
    """How many tokens left ``node`` by ``port``: the canvas's edge figures."""

    __tablename__ = "edge_counts"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    node: Mapped[str] = mapped_column(String(100), primary_key=True)
    port: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class RelayCursor(Base):
    """How far this database has synced from one public tracking relay (``engine/relay``)."""

    __tablename__ = "relay_cursors"

    #: The relay's own uid (a relay whose store was replaced starts a new cursor).
    relay: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The last relay event id recorded here.
    cursor: Mapped[int] = mapped_column(BigInteger)
    #: When the last pull succeeded (ms).
    synced_at: Mapped[Optional[int]] = mapped_column(BigInteger)
    #: Events the relay still held after that pull.
    waiting: Mapped[int] = mapped_column(BigInteger, default=0)


class IdCounter(Base):
    """The next free id of a table whose ids the engine hands out itself (``engine.run.ids``, SQLite)."""

    __tablename__ = "id_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_id: Mapped[int] = mapped_column(Id)


class EngineCounter(Base):
    """Installation-wide counts that outlive a process (rejected tracking requests)."""

    __tablename__ = "engine_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class RuntimeStatus(Base):
    """What a process of the engine says about itself (outbox paused and why, a
    supervised task that died), so ``mailbranch status`` in another process sees it."""

    __tablename__ = "runtime_status"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: JSON object; its shape belongs to the writer (engine/runtime/status.py).
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(BigInteger)


def add_to_counter(session, name: str, amount: int) -> None:
    from sqlalchemy import update as _update

    hit = session.execute(_update(EngineCounter).where(EngineCounter.name == name)
                          .values(value=EngineCounter.value + amount)).rowcount
    if not hit:
        session.add(EngineCounter(name=name, value=amount))


def read_counter(session, name: str) -> int:
    row = session.get(EngineCounter, name)
    return row.value if row else 0


# The installation's suppression list (it replaced the ``unsubscribes`` table of release 0.1),
# and the sandbox's mailbox: tables with modules of their own, registered with the rest.
from engine.store.mailbox import MailboxMessage  # noqa: E402,F401
from engine.store.suppression import Suppression  # noqa: E402,F401


class MailboxReport(Base):
    """One message read from the bounce mailbox, and what it did (``engine/bounces``).

    Keyed by a digest of the message, so a message read twice (the mailbox
    poll died before marking it read) acts once.
    """

    __tablename__ = "mailbox_reports"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    #: hard | soft | delayed | complaint | unsubscribe | ignored
    kind: Mapped[str] = mapped_column(String(16))
    #: What it did: failed | bounced | counted | suppressed | unsubscribed | unmatched | forged | ignored
    outcome: Mapped[str] = mapped_column(String(16))
    campaign_uid: Mapped[Optional[str]] = mapped_column(String(64))
    send_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    email: Mapped[Optional[str]] = mapped_column(String(320))
    detail: Mapped[Optional[str]] = mapped_column(Text)

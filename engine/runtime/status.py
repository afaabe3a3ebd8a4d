"""What the running engine says about itself, kept in the database.

``mailbranch status`` runs in another process than the engine (or the
scale-out workers); the outbox's pause and its last errors, and the tasks a
supervisor restarted, only live in the engine's memory. Each writer keeps one
row of ``runtime_status`` up to date when something changes (not on every
pass), and the readers show it with the time it was written, so a row left
by a process that has since stopped is recognisable as old news.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.store.bulk import fetch_all
from engine.store.database import Database
from engine.store.models import Lead, RuntimeStatus, Send
from engine.store.statements import PARAM, sql

#: The outbox of real campaigns, and the sandbox outbox of the app's simulations.
OUTBOX = "outbox"
SANDBOX_OUTBOX = "outbox:simulations"
TASK_PREFIX = "task:"
#: Pacing per recipient domain (``engine/delivery/pacing.py``) and the bounce mailbox (``engine/bounces``).
PACING = "pacing"
BOUNCE_MAILBOX = "bounce-mailbox"

_ensured: set[str] = set()


def ensure_table(db: Database) -> None:
    """Databases made before this table existed get it on first use (no-op afterwards)."""
    if db.url in _ensured:
        return
    RuntimeStatus.__table__.create(db.engine, checkfirst=True)
    _ensured.add(db.url)


def save(session: Session, name: str, data: dict[str, Any], at: int) -> None:
    """Write one row in the caller's transaction (update, or insert the first time)."""
    text = json.dumps(data, ensure_ascii=False)
    hit = session.execute(update(RuntimeStatus).where(RuntimeStatus.name == name)
                          .values(data=text, updated_at=at)).rowcount
    if not hit:
        session.add(RuntimeStatus(name=name, data=text, updated_at=at))


def load(session: Session, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every row whose name starts with ``prefix``: name -> its data plus ``updated_at``."""
    out: dict[str, dict[str, Any]] = {}
    for row in session.execute(select(RuntimeStatus).where(RuntimeStatus.name.startswith(prefix))).scalars():
        data = json.loads(row.data)
        data["updated_at"] = row.updated_at
        out[row.name] = data
    return out


def retries_waiting(session: Session, campaign_id: Optional[int] = None) -> dict[str, Optional[int]]:
    """Sends the server refused for now (4xx) that wait for their next try: how many, and the next time."""
    if campaign_id is None:
        count, first = fetch_all(session, _RETRIES)[0]
    else:
        count, first = fetch_all(session, _CAMPAIGN_RETRIES, (campaign_id,))[0]
    return {"count": int(count or 0), "next_at": first}


#: Sends the server refused for now: how many, and the earliest next try (``retries_waiting``).
_RETRYING = select(func.count(), func.min(Send.next_attempt_at)).where(Send.status == "queued", Send.attempts > 0)
_RETRIES = sql(_RETRYING)
_CAMPAIGN_RETRIES = sql(_RETRYING.where(Send.campaign_id == PARAM))
#: (campaign, limit): the latest sends that failed for good, with their lead.
_FAILED = sql(select(Lead.key, Lead.email, Send.node, Send.sent_at, Send.error)
              .join_from(Send, Lead, Lead.id == Send.lead_id)
              .where(Send.campaign_id == PARAM, Send.status == "failed")
              .order_by(Send.sent_at.desc(), Send.id.desc()).limit(PARAM))


def failed_sends(session: Session, campaign_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The latest sends that failed for good, with the lead and the reason (what a marketer asks first)."""
    rows = fetch_all(session, _FAILED, (campaign_id, limit))
    return [{"lead": key, "email": email, "node": node, "at": at, "error": error}
            for key, email, node, at, error in rows]


def task_recorder(db: Database, prefix: str = "") -> Callable[[Any], None]:
    """A supervisor's ``on_change``: keep a ``task:<prefix><name>`` row per supervised task."""
    import time as _time

    def record(state: Any) -> None:
        ensure_table(db)
        with db.session() as s:
            save(s, f"{TASK_PREFIX}{prefix}{state.name}", state.as_json(), int(_time.time() * 1000))

    return record


def engine_report(session: Session) -> dict[str, Any]:
    """Outboxes (paused? why? last errors by class), supervised tasks, and retries waiting,
    as the last writers left them: what ``mailbranch status`` and the control API show."""
    rows = load(session)
    return {"outboxes": {name: data for name, data in rows.items() if name.startswith(OUTBOX)},
            "tasks": [dict(data, name=data.get("name") or name[len(TASK_PREFIX):])
                      for name, data in rows.items() if name.startswith(TASK_PREFIX)],
            "retries": retries_waiting(session),
            "pacing": rows.get(PACING), "bounce_mailbox": rows.get(BOUNCE_MAILBOX)}


def _clock(ms: Optional[int]) -> str:
    import datetime as _dt

    if ms is None:
        return "-"
    return _dt.datetime.fromtimestamp(ms / 1000).strftime("%H:%M:%S")


ERROR_CLASS_NAMES = {"server": "server away", "session": "session refused", "message": "message refused for good",
                     "transient": "message refused for now"}


def describe_outbox(outbox: Optional[dict], retries: Optional[dict]) -> tuple[str, str]:
    """A short line for a narrow status bar, and the full story for its tooltip: paused and
    why, the last error of each class, and the retries waiting (the app's run view)."""
    if not outbox:
        return "outbox idle", ""
    state = outbox.get("state") or "idle"
    short = {"outage": "paused, server unreachable", "session": "paused, server refuses us"}.get(
        outbox.get("cause") or "", state) if state == "paused" else state
    line = f"outbox {short}"
    detail = []
    if state == "paused":
        detail.append(f"Sending paused: {outbox.get('reason')} Next try at {_clock(outbox.get('resume_at'))}.")
    for kind, name in ERROR_CLASS_NAMES.items():
        e = (outbox.get("last_errors") or {}).get(kind)
        if e:
            detail.append(f"Last error, {name} ({_clock(e.get('at'))}): {e.get('error')}")
    if retries and retries.get("count"):
        line += f" · {retries['count']} retries waiting"
        detail.append(f"{retries['count']} messages refused for now wait for their next try "
                      f"(the first at {_clock(retries.get('next_at'))}).")
    return line, "\n".join(detail)

"""Kill the engine, restart it, and compare the outcome with the simulator.

One *trial* runs a campaign on the wall clock with ``mailbranch run`` as its
own process, against a sandbox SMTP server that is its own process too (so it
survives the kills), while a load generator opens and clicks the emails at
planned moments. The engine is killed (SIGKILL) at a crash point
(``MAILBRANCH_CRASH_AT``) or at a random moment, and started again with the
same command until the campaign is complete. Then the trial is compared with
a run of the same leads and events on the simulator (SEMANTICS 8):

- the same (lead, email) sends, each sent, each received once by Message-ID
  (a second copy is only tolerated when the kill fell between the server's
  250 and the commit of ``sent``: SMTP has no idempotency key);
- every event the generator produced is recorded once and handled as in the
  reference (which conditions it triggered);
- every wait fired once: none pending, none twice, the same waits in the same
  states as the reference; the same tokens, ending in the same places;
- the campaign is complete.

Events are placed a second or more inside (or outside) the listening
windows, and their times follow the delivery of the send they are about
(its ``sent_at`` in the database: windows count from delivery), so neither scheduling jitter nor the engine being down can change
the expected outcome. The generator requests the real tracking URLs from the
engine's tracking server; when the engine is down (or dies mid-request) it
records the event through ``EngineSink`` straight into the database, as the
tracking server would have, and the engine handles it when it returns.

Used by ``tests/crash`` and ``bench/bench_crash.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("mailbranch")
MAILBRANCH = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "engine.cli"]

#: Every crash point the engine reaches whatever its outgoing server (``engine.faults.POINTS``).
POINTS = ("batch_loaded", "mid_batch", "before_commit", "after_commit", "outbox_claimed", "after_smtp_250",
          "sink_before_commit")
#: Reached only with the built-in sandbox: the message and its send committed, the 250 not yet answered.
SANDBOX_POINTS = ("sandbox_stored",)

W1, W2, W3 = 4.0, 3.0, 3.0  # seconds: c1's timeout, c2's, c3's
LINK1, LINK3 = "https://shop.example/offer", "https://shop.example/last-chance"
LEASE_MS = 1500  # outbox lease, so a send claimed by a killed engine is retried soon
GRACE_MS = 500


def flow_c() -> dict[str, Any]:
    """SEMANTICS flow C (chained conditions) with waits of a few seconds."""
    return {
        "format": "mailbranch.flow/1",
        "name": "Crash test, flow C",
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "e1", "type": "email", "subject": "Our offer", "html": f'<p><a href="{LINK1}">see it</a></p>'},
            {"id": "c1", "type": "condition", "event": "open", "email": "e1"},
            {"id": "c2", "type": "condition", "event": "click"},
            {"id": "e2", "type": "email", "subject": "Your coupon", "html": "<p>Coupon inside</p>"},
            {"id": "w2", "type": "wait", "duration": f"{W2:g}s"},
            {"id": "w1", "type": "wait", "duration": f"{W1:g}s"},
            {"id": "e3", "type": "email", "subject": "Last chance",
             "html": f'<p><a href="{LINK3}">last chance</a></p>'},
            {"id": "c3", "type": "condition", "event": "click"},
            {"id": "w3", "type": "wait", "duration": f"{W3:g}s"},
            {"id": "end1", "type": "end"}, {"id": "end2", "type": "end"},
            {"id": "end3", "type": "end"}, {"id": "end4", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "e1"}, {"from": "e1", "to": "c1"},
            {"from": "c1", "port": "yes", "to": "c2"},
            {"from": "c2", "port": "yes", "to": "e2"}, {"from": "e2", "to": "end1"},
            {"from": "c2", "port": "no", "to": "w2"}, {"from": "w2", "to": "end2"},
            {"from": "c1", "port": "no", "to": "w1"}, {"from": "w1", "to": "e3"},
            {"from": "e3", "to": "c3"},
            {"from": "c3", "port": "yes", "to": "end3"},
            {"from": "c3", "port": "no", "to": "w3"}, {"from": "w3", "to": "end4"},
        ],
    }


#: When each email goes out in the reference, in seconds from the start.
SEND_AT = {"e1": 0.0, "e3": W1}


@dataclass(frozen=True)
class PlannedEvent:
    lead: str
    type: str  # open | click
    email: str  # the email node
    offset: float  # seconds after that email was sent to the lead
    url: Optional[str] = None


def standard_events() -> list[PlannedEvent]:
    """Six leads, each a different story; every event at least a second from any window's edge."""
    return [
        # L0: no events: e1, e3.
        PlannedEvent("L1", "open", "e1", 1.0),  # YES token at c2, no click: down w2
        PlannedEvent("L3", "click", "e1", 1.3, LINK1),  # a click is an open: c1 YES, c2 YES at once: e2
        PlannedEvent("L2", "open", "e1", 1.6),
        PlannedEvent("L2", "click", "e1", 2.6, LINK1),  # clicked while c2 listens: e2
        PlannedEvent("L5", "open", "e1", W1 + 1.0),  # late: recorded, triggers nothing
        PlannedEvent("L4", "click", "e3", 1.0, LINK3),  # c3 YES
    ]


LEADS = ("L0", "L1", "L2", "L3", "L4", "L5")


@dataclass
class Kill:
    """How one launch of the engine dies: at a crash point, after a delay, or not at all."""
    point: Optional[str] = None
    n: int = 1
    after: Optional[float] = None  # seconds after launch

    def describe(self) -> str:
        if self.point:
            return f"{self.point}:{self.n}"
        return f"random@{self.after:.2f}s" if self.after is not None else "none"


@dataclass
class TrialResult:
    name: str
    kills: list[Kill]
    launches: int = 0
    killed: list[tuple[str, int]] = field(default_factory=list)  # (how, at ms) for each launch that died
    problems: list[str] = field(default_factory=list)
    server: str = "external"  # external (its own process) | builtin (the engine's own sandbox)
    duplicates_250: int = 0
    duplicates_elsewhere: int = 0
    lost_sends: int = 0
    lost_events: int = 0
    stuck_leads: int = 0
    events_by_http: int = 0
    events_by_sink: int = 0
    seconds: float = 0.0
    log: str = ""

    @property
    def diverged(self) -> bool:
        return bool(self.problems) or self.duplicates_elsewhere > 0

    @property
    def duplicates(self) -> int:
        return self.duplicates_250 + self.duplicates_elsewhere


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Sandbox:
    """``mailbranch sandbox`` as its own process, shared by many trials (recipients tell them apart)."""

    def __init__(self, workdir: Path) -> None:
        self.db_path = workdir / "mailbox.db"
        self.proc = subprocess.Popen([*MAILBRANCH, "sandbox", "--db", str(self.db_path), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=_env(workdir), cwd=ROOT)
        line = self.proc.stdout.readline()
        if not line.startswith("MAILBRANCH-SANDBOX"):
            self.proc.kill()
            raise RuntimeError(f"the sandbox did not start: {line!r} {self.proc.stderr.read()}")
        self.port = int(line.split()[1])

    def messages(self, domain: str) -> list[tuple[str, int]]:
        """(Message-ID, received_at) of every message to an address at ``domain``."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as c:
            rows = c.execute("SELECT message_id, rcpt_tos, received_at FROM mailbox_messages").fetchall()
        return [(mid, at) for mid, rcpts, at in rows
                if any(r.endswith("@" + domain) for r in json.loads(rcpts))]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class CountingServer:
    """An outside SMTP server in its own process that keeps every copy (``counting_smtp.py``):
    unlike the sandbox it does not recognise a resend, so every duplicate shows, as in an inbox."""

    def __init__(self, workdir: Path) -> None:
        self.log_path = workdir / "counting-smtp.log"
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("counting_smtp.py")),
                                      "--log", str(self.log_path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline()
        if not line.startswith("COUNTING-SMTP"):
            self.proc.kill()
            raise RuntimeError(f"the counting SMTP server did not start: {line!r} {self.proc.stderr.read()}")
        self.port = int(line.split()[1])

    def messages(self, domain: str) -> list[tuple[str, int]]:
        """(Message-ID, received_at) of every copy received for an address at ``domain``."""
        from .counting_smtp import read_log

        return [(mid, at) for mid, rcpt, at in read_log(self.log_path) if rcpt.endswith("@" + domain)]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


#: An outgoing server in its own process, shared by trials (recipients' domains tell them apart).
Server = Union[Sandbox, CountingServer]


def builtin_messages(db_path: Path) -> tuple[list[tuple[str, int]], int]:
    """What the engine's own sandbox kept in the campaign database: (Message-ID, received_at)
    of each message, and how many resends it turned away (answered 250, counted, not kept)."""
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as c:
            rows = c.execute("SELECT message_id, received_at FROM mailbox_messages").fetchall()
            resent = c.execute("SELECT value FROM engine_counters WHERE name = 'sandbox_resends'").fetchone()
    except sqlite3.OperationalError:
        return [], 0  # not created yet
    return [(mid, at) for mid, at in rows], resent[0] if resent else 0


def _env(workdir: Path, crash: Optional[str] = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MAILBRANCH_CRASH_AT", None)
    env.update(MAILBRANCH_HOME=str(workdir / "home"), MAILBRANCH_OUTBOX_LEASE_MS=str(LEASE_MS),
               MAILBRANCH_GRACE_MS=str(GRACE_MS), PYTHONUNBUFFERED="1")
    if crash:
        env["MAILBRANCH_CRASH_AT"] = crash
    return env


_REFERENCES: dict[tuple[PlannedEvent, ...], dict[str, Any]] = {}
_REFERENCE_LOCK = threading.Lock()


def reference(events: list[PlannedEvent]) -> dict[str, Any]:
    """The same leads and events on the simulator, in the shape ``outcome`` reads a trial
    (made once per list of events, one at a time: trials compare from many threads)."""
    key = tuple(events)
    with _REFERENCE_LOCK:
        if key not in _REFERENCES:
            _REFERENCES[key] = _simulated(events)
        return _REFERENCES[key]


def _simulated(events: list[PlannedEvent]) -> dict[str, Any]:
    from engine.flow.fileformat import loads_flow
    from engine.run.engine import LeadInput
    from engine.sim.simulate import simulate
    from engine.store.database import Database

    db = Database(":memory:")
    sim_events = [{"type": e.type, "lead": e.lead, "email": e.email, "at": SEND_AT[e.email] + e.offset,
                   **({"url": e.url} if e.url else {})} for e in events]
    simulate(loads_flow(json.dumps(flow_c())), [LeadInput(k, f"{k.lower()}@ref.example") for k in LEADS],
             sim_events, db=db)
    with db.engine.connect() as c:
        raw = c.connection.dbapi_connection
        return _outcome(raw)


def _outcome(c) -> dict[str, Any]:
    """What must match between a trial and the reference, keyed by lead (ids differ)."""
    keys = dict(c.execute("SELECT id, key FROM leads").fetchall())
    sends = sorted((keys[lead], node) for lead, node in c.execute("SELECT lead_id, node FROM sends"))
    waits = sorted(Counter((keys[lead], node, state) for lead, node, state in
                           c.execute("SELECT lead_id, node, state FROM waits")).items())
    tokens = sorted(Counter((keys[lead], node, state, bool(tracked)) for lead, node, state, tracked in
                            c.execute("SELECT lead_id, node, state, tracked FROM tokens")).items())
    events = sorted(Counter(
        (keys.get(lead), type_, node, state, tuple(sorted(json.loads(triggered or "[]"))))
        for lead, type_, node, state, triggered in c.execute(
            "SELECT e.lead_id, e.type, COALESCE(s.node, e.node), e.state, e.triggered FROM events e"
            " LEFT JOIN sends s ON s.id = e.send_id WHERE e.type IN ('open', 'click')")).items())
    return {"sends": sends, "waits": waits, "tokens": tokens, "events": events}


class Trial:
    def __init__(self, workdir: Path, sandbox: Optional[Server], name: str, kills: list[Kill],
                 events: Optional[list[PlannedEvent]] = None, timeout: float = 90.0,
                 connections: Optional[int] = None) -> None:
        self.dir = workdir / name
        self.dir.mkdir(parents=True)
        (self.dir / "home").mkdir()
        #: The outgoing server in its own process; None: the engine's built-in sandbox (``--smtp sandbox``).
        self.sandbox = sandbox
        #: SMTP connections to the outside server (None: the default). With one, nothing else is
        #: on the wire when a 250 arrives, so a kill there tests the journal alone.
        self.connections = connections
        self.name = name
        self.domain = f"{name}.example"
        self.kills = list(kills)
        self.events = standard_events() if events is None else events
        self.timeout = timeout
        self.db_path = self.dir / "campaign.db"
        self.flow_path = self.dir / "flow.json"
        self.flow_path.write_text(json.dumps(flow_c()))
        self.leads_path = self.dir / "leads.csv"
        with self.leads_path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "email"])
            for key in LEADS:
                w.writerow([key, f"{key.lower()}@{self.domain}"])
        self.tracking_port = free_port()
        self.result = TrialResult(name, self.kills, server="external" if sandbox is not None else "builtin")
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # -- the engine, killed and restarted ------------------------------------
    def command(self) -> list[str]:
        return [*MAILBRANCH, "run", str(self.flow_path), "--leads", str(self.leads_path), "--db", str(self.db_path),
                "--smtp", self._smtp_url(),
                "--tracking-port", str(self.tracking_port),
                "--quiet"]

    def _smtp_url(self) -> str:
        if self.sandbox is None:
            return "sandbox"
        query = f"?connections={self.connections}" if self.connections else ""
        return f"smtp://127.0.0.1:{self.sandbox.port}{query}"

    def run(self) -> TrialResult:
        started = time.monotonic()
        generators: list[threading.Thread] = []
        deadline = started + self.timeout
        launch = 0
        try:
            while time.monotonic() < deadline:
                kill = self.kills[launch] if launch < len(self.kills) else Kill()
                launch += 1
                env = _env(self.dir, f"{kill.point}:{kill.n}" if kill.point else None)
                with (self.dir / f"launch{launch}.log").open("w") as log:
                    proc = subprocess.Popen(self.command(), stdout=log, stderr=log, env=env, cwd=ROOT,
                                            start_new_session=True)
                    killed_at: list[int] = []
                    timer = None
                    if kill.after is not None:
                        def shoot(p=proc, killed_at=killed_at):
                            if p.poll() is None:
                                killed_at.append(now_ms())
                                p.send_signal(signal.SIGKILL)
                        timer = threading.Timer(kill.after, shoot)
                        timer.start()
                    if launch == 1:
                        generators = self._start_generators()
                    try:
                        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                        self.result.problems.append("the engine did not finish in time")
                        break
                    finally:
                        if timer is not None:
                            timer.cancel()
                if rc == 0:
                    break
                if rc == -signal.SIGKILL:
                    self.result.killed.append((kill.describe(), killed_at[0] if killed_at else now_ms()))
                    self._check_no_intermediate_state()
                    continue
                self.result.problems.append(f"launch {launch} exited with {rc}: "
                                            f"{(self.dir / f'launch{launch}.log').read_text()[-2000:]}")
                break
            else:
                self.result.problems.append("the engine did not finish in time")
        finally:
            self.result.launches = launch
            self._stop.set()
            for g in generators:
                g.join(timeout=10)
        self._compare()
        self.result.seconds = time.monotonic() - started
        return self.result

    def _check_no_intermediate_state(self) -> None:
        """Right after a kill: every token is waiting, finished or failed (none half-moved)."""
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as c:
            try:
                states = {s for (s,) in c.execute("SELECT DISTINCT state FROM tokens")}
            except sqlite3.OperationalError:
                return  # killed before the tables were made
        odd = states - {"waiting", "finished", "failed"}
        if odd:
            self.result.problems.append(f"after a kill, tokens in state {sorted(odd)}")

    # -- the load generator --------------------------------------------------
    def _start_generators(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._generate, args=(e,), daemon=True) for e in self.events]
        for t in threads:
            t.start()
        return threads

    def _send_row(self, lead: str, node: str) -> Optional[tuple[int, int, int, str]]:
        try:
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as c:
                # SEMANTICS 9: windows count from delivery, so events are placed from ``sent_at``.
                return c.execute("SELECT s.id, s.sent_at, s.campaign_id, c.uid FROM sends s JOIN leads l"
                                 " ON l.id = s.lead_id JOIN campaigns c ON c.id = s.campaign_id"
                                 " WHERE l.key = ? AND s.node = ? AND s.status = 'sent'", (lead, node)).fetchone()
        except sqlite3.OperationalError:
            return None  # not created yet

    def _generate(self, event: PlannedEvent) -> None:
        row = None
        while row is None and not self._stop.is_set():
            row = self._send_row(event.lead, event.email)
            if row is None:
                time.sleep(0.05)
        if row is None:
            return
        send_id, send_at, campaign_id, campaign_uid = row
        target = send_at + int(event.offset * 1000)
        delay = (target - now_ms()) / 1000
        if delay > 0 and self._stop.wait(delay):
            return
        # Its moment is long past (the delivery was recorded from the outcome journal after a
        # restart, with the time the server accepted it): it happened then, so it is recorded
        # with that time, as below; a live request could only say "now".
        on_time = delay > -0.3
        if on_time and self._by_http(campaign_uid, send_id, event):
            with self._lock:
                self.result.events_by_http += 1
            return
        # The engine is down, or died with the request: record it as its tracking server would.
        if self._recorded(send_id, event.type):
            with self._lock:
                self.result.events_by_http += 1
            return
        from engine.runtime.sink import EngineSink
        from engine.store.database import Database

        db = Database(self.db_path)
        try:
            sink = EngineSink(db)
            if event.type == "open":
                ok = asyncio.run(sink.record_open(campaign_id, send_id, target))
            else:
                ok = asyncio.run(sink.record_click(campaign_id, send_id, event.url, target))
        finally:
            db.dispose()
        with self._lock:
            self.result.events_by_sink += 1
            if not ok:
                self.result.problems.append(f"the sink refused {event}")

    def _by_http(self, campaign_uid: str, send_id: int, event: PlannedEvent) -> bool:
        tokens = _tokens(self.dir / "home")
        if event.type == "open":
            path = f"/o/{tokens.open_token(campaign_uid, send_id)}.gif"
        else:
            path = f"/c/{tokens.click_token(campaign_uid, send_id, event.url)}"
        conn = http.client.HTTPConnection("127.0.0.1", self.tracking_port, timeout=8)
        try:
            conn.request("GET", path)
            status = conn.getresponse().status
        except OSError:
            return False
        finally:
            conn.close()
        return status < 400

    def _recorded(self, send_id: int, kind: str) -> bool:
        with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as c:
            return c.execute("SELECT COUNT(*) FROM events WHERE send_id = ? AND type = ?",
                             (send_id, kind)).fetchone()[0] > 0

    # -- the verdict ---------------------------------------------------------
    def _compare(self) -> None:
        r = self.result
        expected = reference(self.events)
        try:
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as c:
                got = _outcome(c)
                campaign = c.execute("SELECT state, complete_at, open_tracked FROM campaigns").fetchone()
                statuses = dict(c.execute("SELECT status, COUNT(*) FROM sends GROUP BY status").fetchall())
                pending_waits = c.execute("SELECT COUNT(*) FROM waits WHERE state = 'pending'").fetchone()[0]
                twice = c.execute("SELECT COUNT(*) FROM (SELECT token_id, node FROM waits GROUP BY token_id, node"
                                  " HAVING COUNT(*) > 1)").fetchone()[0]
                unfired = c.execute("SELECT COUNT(*) FROM waits WHERE state = 'fired' AND fired_at IS NULL"
                                    ).fetchone()[0]
                event_rows = c.execute("SELECT COUNT(*) FROM events WHERE type IN ('open', 'click')").fetchone()[0]
                pending_events = c.execute("SELECT COUNT(*) FROM events WHERE state = 'pending'").fetchone()[0]
                ids = {mid: (lead, node) for mid, lead, node in c.execute(
                    "SELECT s.message_id, l.key, s.node FROM sends s JOIN leads l ON l.id = s.lead_id")}
                unsent = c.execute("SELECT COUNT(*) FROM sends WHERE status <> 'sent'").fetchone()[0]
                stuck = c.execute(
                    "SELECT COUNT(DISTINCT lead_id) FROM (SELECT lead_id FROM tokens WHERE state NOT IN"
                    " ('finished', 'failed') UNION ALL SELECT lead_id FROM waits WHERE state = 'pending'"
                    " UNION ALL SELECT lead_id FROM sends WHERE status IN ('queued', 'sending')"
                    " UNION ALL SELECT lead_id FROM events WHERE state = 'pending')").fetchone()[0]
        except sqlite3.OperationalError as exc:
            r.problems.append(f"cannot read the campaign: {exc}")
            return
        if campaign is None or campaign[0] != "complete" or campaign[1] is None or campaign[2] != 0:
            r.problems.append(f"campaign not complete: {campaign}")
        for part in ("sends", "waits", "tokens", "events"):
            if got[part] != expected[part]:
                r.problems.append(f"{part} differ from the reference: got {got[part]}, expected {expected[part]}")
        if set(statuses) - {"sent"}:
            r.problems.append(f"sends not all sent: {statuses}")
        if pending_waits or twice or unfired:
            r.problems.append(f"waits: {pending_waits} pending, {twice} twice, {unfired} fired without a time")
        if event_rows != len(self.events):
            r.problems.append(f"{event_rows} events recorded, {len(self.events)} generated")
        if pending_events:
            r.problems.append(f"{pending_events} events never handled")
        received: dict[str, list[int]] = {}
        if self.sandbox is not None:
            copies, turned_away = self.sandbox.messages(self.domain), 0
        else:
            copies, turned_away = builtin_messages(self.db_path)
        for mid, at in copies:
            received.setdefault(mid, []).append(at)
        if set(received) != set(ids):
            r.problems.append(f"mailbox Message-IDs {sorted(received)} != sends {sorted(ids)}")
        r.lost_sends = (sum((Counter(expected["sends"]) - Counter(got["sends"])).values()) + unsent
                        + len(set(ids) - set(received)))
        r.lost_events = max(0, len(self.events) - event_rows)
        r.stuck_leads = stuck
        for mid, times in received.items():
            if len(times) < 2:
                continue
            first = min(times)
            if any(self._in_250_window(how, at, first) for how, at in r.killed):
                r.duplicates_250 += len(times) - 1
            else:
                r.duplicates_elsewhere += len(times) - 1
                r.problems.append(f"{mid} {ids.get(mid)} received {len(times)} times, not in the 250 window")
        if turned_away:
            # The built-in sandbox recognised these resends by Message-ID (answered 250, kept once);
            # it does not say which message, so they count against any kill that could explain them.
            if any(how.startswith(("after_smtp_250", "random")) for how, _at in r.killed):
                r.duplicates_250 += turned_away
            else:
                r.duplicates_elsewhere += turned_away
                r.problems.append(f"the built-in sandbox received {turned_away} resends, not in the 250 window")

    @staticmethod
    def _in_250_window(how: str, killed_at: int, first_received: int) -> bool:
        """The kill fell after the server accepted the first copy and before ``sent`` was committed."""
        if how.startswith("after_smtp_250"):
            return first_received <= killed_at
        if how.startswith("random"):
            return killed_at - 1000 <= first_received <= killed_at
        return False


_TOKENS: dict[Path, Any] = {}


def _tokens(home: Path) -> Any:
    if home not in _TOKENS:
        from engine.delivery.tracking_tokens import TrackingTokens, load_or_create_secret

        _TOKENS[home] = TrackingTokens(load_or_create_secret(home / "tracking.secret"))
    return _TOKENS[home]


def random_kills(rng: random.Random, count: int, within: float = 8.0) -> list[Kill]:
    """``count`` launches each killed at a random moment (or, half the time, a random crash point)."""
    kills = []
    for _ in range(count):
        if rng.random() < 0.5:
            kills.append(Kill(after=rng.uniform(0.3, within)))
        else:
            kills.append(Kill(point=rng.choice(POINTS), n=rng.randint(1, 4)))
    return kills


def run_trials(workdir: Path, sandbox: Optional[Server], specs: list[tuple],
               parallel: int = 6) -> list[TrialResult]:
    """Run the trials, ``parallel`` at once, against ``sandbox`` (None: each engine's built-in
    sandbox). A spec is ``(name, kills)`` or ``(name, kills, {Trial keyword: value})``."""
    from concurrent.futures import ThreadPoolExecutor

    def one(spec):
        name, kills, *options = spec
        return Trial(workdir, sandbox, name, kills, **(options[0] if options else {})).run()

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, specs))

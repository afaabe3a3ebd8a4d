"""Scale-out on PostgreSQL: procrastinate workers play and send; kill one, lose nothing."""

import json
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from engine.flow.fileformat import flow_from_data
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.runtime.settled import settle_events
from engine.scale.worker import WorkerState
from engine.sim.simulate import simulate
from engine.store.bulk import execute_many, fetch_all
from engine.store.database import Database
from engine.store.models import Lead, Send, Wait

MB = [sys.executable, "-m", "engine.cli"]

FLOW = {
    "format": "mailbranch.flow/1", "name": "Scale",
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "e1", "type": "email", "subject": "Hi", "html": '<p><a href="https://shop.example/o">o</a></p>'},
        {"id": "c1", "type": "condition", "event": "open"},
        {"id": "e2", "type": "email", "subject": "Thanks", "html": "<p>Coupon</p>"},
        {"id": "w1", "type": "wait", "duration": "6s"},
        {"id": "e3", "type": "email", "subject": "Reminder", "html": "<p>Last chance</p>"},
        {"id": "end1", "type": "end"}, {"id": "end2", "type": "end"},
    ],
    "edges": [
        {"from": "start", "to": "e1"}, {"from": "e1", "to": "c1"},
        {"from": "c1", "port": "yes", "to": "e2"}, {"from": "e2", "to": "end1"},
        {"from": "c1", "port": "no", "to": "w1"}, {"from": "w1", "to": "e3"}, {"from": "e3", "to": "end2"},
    ],
}


def start(args, env, logs, name):
    """Start a ``mailbranch`` process writing to ``logs/name.out|.err``.

    Files, not pipes: nobody reads a pipe while the campaign runs, and a worker
    that logs more than a pipe holds (retries on a slow machine) would block on
    its next write and stop sending.
    """
    logs.mkdir(exist_ok=True)
    with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.err", "w") as err:
        process = subprocess.Popen(MB + args, env=env, stdout=out, stderr=err, text=True)
    process.name, process.logs = name, logs
    return process


def output_of(process, stream="err"):
    return (process.logs / f"{process.name}.{stream}").read_text()


def wait_for(predicate, timeout=120.0, step=0.2, state=None):
    """Poll until ``predicate`` holds; on timeout, fail with ``state()`` so CI shows where it stood."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting" + (f": {state()}" if state else ""))


def _where_it_stands(db, procs):
    with db.session() as s:
        sends = fetch_all(s, "SELECT node, status, COUNT(*) FROM sends GROUP BY node, status ORDER BY 1, 2")
    return f"sends {sends}\n{_stderr_of(procs)}"


def _stderr_of(procs):
    """The last lines each process wrote to stderr."""
    return "\n".join(f"{p.name} (exit {p.poll()}): {output_of(p)[-1500:]}" for p in procs)


def test_three_workers_one_killed_every_email_once(pg_url, tmp_path):
    env = {**os.environ, "MAILBRANCH_HOME": str(tmp_path / "home"), "MAILBRANCH_STALLED_SECONDS": "3"}
    # The opens below come from separate CLI processes a few seconds after delivery:
    # the listening window (w1) must outlast them on a loaded machine.
    flow = json.loads(json.dumps(FLOW))
    next(n for n in flow["nodes"] if n["id"] == "w1")["duration"] = "20s"
    flow_file = tmp_path / "flow.json"
    flow_file.write_text(json.dumps(flow))
    leads = [f"lead{i}@example.com" for i in range(12)]
    (tmp_path / "leads.csv").write_text("email\n" + "\n".join(leads) + "\n")
    logs = tmp_path / "logs"
    sandbox = start(["sandbox", "--db", str(tmp_path / "mailbox.db"), "--port", "0"], env, logs, "sandbox")
    procs = [sandbox]
    try:
        port = int(wait_for(lambda: output_of(sandbox, "out").partition("\n")[1] and output_of(sandbox, "out"),
                            state=lambda: _stderr_of(procs)).split()[1])
        run = start(["run", str(flow_file), "--leads", str(tmp_path / "leads.csv"), "--db", pg_url,
                     "--distributed", "--shards", "8", "--tracking-port", "0", "--quiet"], env, logs, "run")
        procs.append(run)
        db = Database(pg_url)
        wait_for(lambda: _table_exists(db, "leads") and _count(db, "SELECT COUNT(*) FROM leads") == 12,
                 state=lambda: _stderr_of(procs))
        workers = [start(["worker", "--db", pg_url, "--smtp", f"smtp://127.0.0.1:{port}", "--concurrency", "2"],
                         env, logs, f"worker{i}") for i in range(3)]
        procs += workers
        # Three leads open e1 as soon as it is delivered to them.
        wait_for(lambda: _count(db, "SELECT COUNT(*) FROM sends WHERE node = 'e1' AND status = 'sent'") == 12,
                 state=lambda: _where_it_stands(db, procs))
        openers = [start(["event", "open", "--db", pg_url, "--lead", lead, "--email", "e1"], env, logs, f"open{i}")
                   for i, lead in enumerate(leads[:3])]
        assert [p.wait(timeout=60) for p in openers] == [0, 0, 0]
        workers[0].send_signal(signal.SIGKILL)  # a worker dies in the middle of the campaign
        assert run.wait(timeout=120) == 0, _where_it_stands(db, procs)
        with db.session() as s:
            sends = sorted((r.key, r.node) for r in s.execute(select(Lead.key, Send.node)
                                                              .join(Lead, Lead.id == Send.lead_id)))
            statuses = set(s.execute(select(Send.status)).scalars())
            pending = s.execute(select(func.count()).select_from(Wait).where(Wait.state == "pending")).scalar()
        assert statuses == {"sent"} and pending == 0
        # Same sends as the simulator says for the same opens.
        reference = simulate(flow_from_data(flow), [LeadInput(x) for x in leads],
                             [{"lead": x, "type": "open", "email": "e1", "at": 1} for x in leads[:3]])
        assert sends == sorted((x["lead"], x["node"]) for x in reference.sends)
        assert len(sends) == 12 + 3 + 12
        # Every message arrived exactly once (counted by Message-ID in the sandbox's mailbox,
        # which keeps a resend once and counts it).
        from engine.delivery.mailbox import count_by_message_id, count_resends

        mailbox = Database(tmp_path / "mailbox.db")
        with mailbox.session() as s:
            copies = count_by_message_id(s)
            resent = count_resends(s)
        assert len(copies) == len(sends)
        assert set(copies.values()) == {1} and resent == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def _table_exists(db, name):
    with db.session() as s:
        return fetch_all(s, "SELECT to_regclass(?)", (name,))[0][0] is not None


def _count(db, sql):
    with db.session() as s:
        return fetch_all(s, sql)[0][0]


class StepClock:
    simulated = False

    def __init__(self, now):
        self.value = now

    def now(self):
        return self.value

    def reach(self, at):
        pass


def deliver_queued(db, at: int) -> None:
    """What the outbox records when the server says 250: the send is settled, and
    the event that moves its token on is written with it."""
    with db.session() as s:
        rows = [(at, r[0]) for r in fetch_all(s, "SELECT id FROM sends WHERE status = 'queued'")]
        settle_events(s, "delivered", rows, unsettled=("queued",))
        execute_many(s, "UPDATE sends SET status = 'sent', sent_at = ? WHERE id = ?", rows)


def test_waits_are_scheduled_jobs_and_exclusive_mode_cancels_them(scale_db):
    clock = StepClock(SystemClock().now())
    flow = flow_from_data(FLOW)
    engine = CampaignEngine.create(scale_db, flow, clock, delivery="real", mode="exclusive",
                                   settings={"distributed": True, "shards": 4})
    engine.enroll([LeadInput("a", "a@example.com"), LeadInput("b", "b@example.com")])
    with scale_db.session() as s:
        start_jobs = fetch_all(s, "SELECT COUNT(*) FROM procrastinate_jobs WHERE task_name = 'mailbranch.wake_shard'"
                                  " AND status = 'todo'")[0][0]
    assert start_jobs == 2  # lead 1 and lead 2 are in different shards, due at the same instant
    clock.value += 5000
    engine.process_until(clock.value)
    with scale_db.session() as s:
        deliveries = fetch_all(s, "SELECT COUNT(*) FROM procrastinate_jobs WHERE task_name ="
                                  " 'mailbranch.deliver_shard'")[0][0]
    assert deliveries == 2  # the queued e1 sends wake the outbox of each shard
    deliver_queued(scale_db, clock.value)  # the tokens wait on e1 until the server took it
    engine.process_until(clock.value)
    with scale_db.session() as s:
        waits = fetch_all(s, "SELECT w.lead_id, w.job_id, j.status, j.scheduled_at FROM waits w JOIN"
                             " procrastinate_jobs j ON j.id = w.job_id WHERE w.node = 'w1'")
    assert len(waits) == 2 and {w[2] for w in waits} == {"todo"}
    # Lead a opens e1: exclusive mode revokes its wait, and the job that would fire it is cancelled.
    engine.record_event("open", lead="a", email="e1", at=clock.value + 10)
    clock.value += 5000
    engine.process_until(clock.value)
    with scale_db.session() as s:
        left = fetch_all(s, "SELECT w.lead_id, w.state, (SELECT status FROM procrastinate_jobs j WHERE"
                            " j.id = w.job_id) FROM waits w WHERE w.node = 'w1' ORDER BY w.lead_id")
    assert left[0][1] == "revoked" and left[0][2] is None  # the job is gone
    assert left[1][1] == "pending" and left[1][2] == "todo"


def test_a_wake_job_run_twice_changes_nothing(scale_db):
    flow = flow_from_data(FLOW)
    engine = CampaignEngine.create(scale_db, flow, SystemClock(), delivery="real",
                                   settings={"distributed": True, "shards": 2})
    engine.enroll([LeadInput(f"l{i}", f"l{i}@example.com") for i in range(6)])
    state = WorkerState(scale_db, None, "http://127.0.0.1:1")
    state.engine(engine.campaign_id).ctx.jobs.grace_ms = 0
    time.sleep(0.05)
    first = state.wake(engine.campaign_id, 0) + state.wake(engine.campaign_id, 1)
    again = state.wake(engine.campaign_id, 0) + state.wake(engine.campaign_id, 1)
    with scale_db.session() as s:
        sends = s.execute(select(func.count()).select_from(Send)).scalar()
    assert first == 6 and again == 0
    assert sends == 6


def test_run_distributed_needs_postgresql(tmp_path):
    flow_file = tmp_path / "flow.json"
    flow_file.write_text(json.dumps(FLOW))
    (tmp_path / "leads.csv").write_text("email\na@example.com\n")
    proc = subprocess.run(MB + ["run", str(flow_file), "--leads", str(tmp_path / "leads.csv"), "--db",
                                str(tmp_path / "x.db"), "--distributed"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "MAILBRANCH_HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert "needs a PostgreSQL database" in proc.stderr
    assert "Traceback" not in proc.stderr

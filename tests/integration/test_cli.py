"""``mailbranch run`` as a user runs it: a subprocess against the sandbox,
stopped with Ctrl-C and run again; ``status``, ``mailbox`` and ``event``
against the same database; a messy CSV."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .support import flow_json, two_step_json

MAILBRANCH = Path(sys.executable).parent / "mailbranch"


@pytest.fixture
def env(mailbranch_home):
    return {**os.environ, "MAILBRANCH_HOME": str(mailbranch_home), "NO_COLOR": "1", "COLUMNS": "200",
            "TERM": "dumb"}


def write_flow(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def run_args(flow: Path, leads: Path, db: Path) -> list[str]:
    return [str(MAILBRANCH), "run", str(flow), "--leads", str(leads), "--db", str(db), "--smtp", "sandbox",
            "--tracking-port", "0", "--quiet"]


def mb(env, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(MAILBRANCH), *args], env=env, capture_output=True, text=True, timeout=timeout)


def sql(db: Path, statement: str, args: tuple = ()) -> list[tuple]:
    """Read the campaign database as another process would; [] while it has no tables yet."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute(statement, args).fetchall()
    except sqlite3.OperationalError:
        return []


def wait_for(check, timeout: float = 20.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_ctrl_c_then_the_same_command_resumes_and_sends_nothing_twice(tmp_path, env):
    flow = write_flow(tmp_path, two_step_json(wait="2s", name="Resume me"))
    leads = tmp_path / "leads.csv"
    leads.write_text("email,first_name\n" + "".join(f"lead{i}@example.com,L{i}\n" for i in range(1, 7)))
    db = tmp_path / "run.db"

    first = subprocess.Popen(run_args(flow, leads, db), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        wait_for(lambda: sql(db, "SELECT COUNT(*) FROM mailbox_messages") not in ([], [(0,)]),
                 timeout=60, what="the first sends")
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 130, err
    assert "Stopped. Run the same command again to resume" in err
    assert "Traceback" not in err
    sent_before = sql(db, "SELECT COUNT(*) FROM mailbox_messages")[0][0]
    assert 1 <= sent_before < 12, "interrupted before the second emails"
    # Every message the sandbox took was recorded as sent before the process exited.
    assert sql(db, "SELECT COUNT(*) FROM sends WHERE status = 'sent'") == [(sent_before,)]

    second = subprocess.run(run_args(flow, leads, db), env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "Resuming campaign 1" in second.stderr and "0 leads enrolled now, 6 already in" in second.stderr
    assert "is complete" in second.stdout
    copies = sql(db, "SELECT message_id, COUNT(*) FROM mailbox_messages GROUP BY message_id")
    assert len(copies) == 12 and {n for _, n in copies} == {1}
    assert sql(db, "SELECT COUNT(*) FROM engine_counters WHERE name = 'sandbox_resends'") == [(0,)], \
        "a message was sent again"
    assert sql(db, "SELECT status, COUNT(*) FROM sends GROUP BY status") == [("sent", 12)]

    status = mb(env, "status", "--db", str(db), "--json")
    assert status.returncode == 0, status.stderr
    (campaign,) = json.loads(status.stdout)["campaigns"]
    assert campaign["state"] == "complete" and campaign["complete_at"] is not None
    assert (campaign["name"], campaign["leads"], campaign["tokens_active"]) == ("Resume me", 6, 0)
    assert {k: (v["type"], v["sent"]) for k, v in campaign["nodes"].items() if v["type"] == "email"} == {
        "e1": ("email", 6), "e2": ("email", 6)}
    assert campaign["nodes"]["end"]["finished"] == 6
    assert {(e["from"], e["port"], e["count"]) for e in campaign["edges"]} >= {("e1", "next", 6),
                                                                               ("w1", "next", 6)}
    table = mb(env, "status", "--db", str(db))
    assert table.returncode == 0 and "complete" in table.stdout and "e2 (email)" in table.stdout

    listing = mb(env, "mailbox", "--db", str(db))
    assert listing.returncode == 0
    assert listing.stdout.count("@example.com") == 12 and "Resume me: second" in listing.stdout
    (first_id, first_mid), = sql(db, "SELECT id, message_id FROM mailbox_messages ORDER BY id LIMIT 1")
    shown = mb(env, "mailbox", "--db", str(db), str(first_id))
    assert shown.returncode == 0
    assert f"Message-ID: {first_mid}" in shown.stdout and "Subject: Resume me: first" in shown.stdout
    assert "One" in shown.stdout and "/u/" in shown.stdout  # the text part and its unsubscribe link
    missing = mb(env, "mailbox", "--db", str(db), "999")
    assert missing.returncode == 1 and "no message 999" in missing.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopped_in_the_middle_of_sending_every_accepted_message_is_recorded(tmp_path, env, stop):
    """Hundreds of sends in flight when the stop comes: what the server took is recorded as
    sent, the rest is handed back, and the next run sends only the rest."""
    flow = write_flow(tmp_path, two_step_json(wait="1h", name="Busy"))
    leads = tmp_path / "leads.csv"
    leads.write_text("email\n" + "".join(f"lead{i}@example.com\n" for i in range(400)))
    db = tmp_path / "run.db"

    first = subprocess.Popen(run_args(flow, leads, db), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        wait_for(lambda: sql(db, "SELECT COUNT(*) FROM mailbox_messages") not in ([], [(0,)]),
                 timeout=60, what="the first sends")
        first.send_signal(stop)
        _out, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 130 and "Stopped. Run the same command again" in err, err
    assert "Traceback" not in err
    received = sql(db, "SELECT COUNT(*) FROM mailbox_messages")[0][0]
    statuses = dict(sql(db, "SELECT status, COUNT(*) FROM sends GROUP BY status"))
    assert statuses.get("sent", 0) == received, statuses
    assert statuses.get("sending", 0) == 0, "a claim was left to its lease instead of handed back"

    second = subprocess.Popen(run_args(flow, leads, db), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        wait_for(lambda: sql(db, "SELECT COUNT(*) FROM sends WHERE node = 'e1' AND status = 'sent'") == [(400,)],
                 timeout=120, what="the rest of the first emails")
        second.send_signal(signal.SIGINT)
        second.communicate(timeout=60)
    finally:
        second.kill()
    copies = sql(db, "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM mailbox_messages")
    assert copies == [(400, 400)]
    assert sql(db, "SELECT COUNT(*) FROM engine_counters WHERE name = 'sandbox_resends'") == [(0,)], \
        "a message was sent again"


def test_messy_csv_and_an_injected_open_in_a_running_campaign(tmp_path, env):
    flow = write_flow(tmp_path, flow_json(wait="4s"))
    leads = tmp_path / "leads.csv"
    leads.write_bytes("\ufeffemail;first_name\r\n"
                      "ann@example.com;Ann\r\n"
                      "not-an-address;Nobody\r\n"
                      "bob@example.com;Bob\r\n"
                      "ANN@example.com;Annie\r\n"
                      "carl@example;Carl\r\n".encode("utf-8"))
    db = tmp_path / "run.db"
    run = subprocess.Popen(run_args(flow, leads, db), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        wait_for(lambda: sql(db, "SELECT COUNT(*) FROM sends s JOIN leads l ON l.id = s.lead_id WHERE"
                                 " l.email = 'ann@example.com' AND s.status = 'sent'") == [(1,)], what="e1 to ann")
        injected = mb(env, "event", "open", "--db", str(db), "--lead", "ann@example.com", "--email", "e1")
        assert injected.returncode == 0, injected.stderr
        assert "Recorded a open of e1" in injected.stdout or "Recorded an open of e1" in injected.stdout
        out, err = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 0, err
    assert "line 3" in err and "line 6" in err, err
    assert "line 2" not in err and "line 4" not in err
    assert "2 added" in err and "1 merged" in err and "2 rejected" in err, err
    received = sql(db, "SELECT rcpt_tos, subject FROM mailbox_messages")
    by_address: dict[str, list[str]] = {}
    for rcpts, subject in received:
        for rcpt in json.loads(rcpts):
            by_address.setdefault(rcpt, []).append(subject)
    assert {k: sorted(v) for k, v in by_address.items()} == {
        "ann@example.com": ["Did you miss it?", "Hi Ann", "Thanks for reading"],
        "bob@example.com": ["Did you miss it?", "Hi Bob"],
    }
    unknown = mb(env, "event", "open", "--db", str(db), "--lead", "nobody@example.com", "--email", "e1")
    assert unknown.returncode == 1 and "no lead" in unknown.stderr

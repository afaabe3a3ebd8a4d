"""One lead's message can fail; nothing it does can stop the others.

Through ``mailbranch run`` and ``status`` as a user runs them, and through the
runner against servers with and without SMTPUTF8: a template that fails on
one lead's fields, an internationalised address, an address a server cannot
take. Each fails (or goes) alone, with a reason the status shows.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from .picky_smtp import PickyServer
from .support import one_email_json, query, start_campaign
from .test_delivery_policy import runner_for

MAILBRANCH = Path(sys.executable).parent / "mailbranch"


@pytest.fixture
def env(mailbranch_home):
    return {**os.environ, "MAILBRANCH_HOME": str(mailbranch_home), "NO_COLOR": "1", "COLUMNS": "200",
            "TERM": "dumb"}


def mb(env, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(MAILBRANCH), *args], env=env, capture_output=True, text=True, timeout=timeout)


def discount_flow() -> dict:
    data = one_email_json("Discounts")
    data["nodes"][1]["subject"] = "Hello {{ first_name }}: {{ 100 // discount | int }} items for 100"
    return data


def test_one_bad_lead_among_20_fails_alone_and_status_says_why(tmp_path, env):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(discount_flow()), encoding="utf-8")
    rows = ["email,first_name,discount"] + [f"lead{i}@example.com,Lead{i},{5 + i}" for i in range(1, 19)]
    rows += ["zero@example.com,Zed,0",            # 100 // 0: the template fails for this lead only
             "jörg@exämple.com,Jörg,10"]          # internationalised: the sandbox offers SMTPUTF8
    leads = tmp_path / "leads.csv"
    leads.write_text("\n".join(rows) + "\n", encoding="utf-8")
    db = tmp_path / "campaign.db"
    run = mb(env, "run", str(flow), "--leads", str(leads), "--db", str(db), "--smtp", "sandbox",
             "--tracking-port", "0", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert "20 added" in run.stderr

    status = json.loads(mb(env, "status", "--db", str(db), "--json").stdout)
    (campaign,) = status["campaigns"]
    assert campaign["state"] == "complete"
    assert campaign["nodes"]["e1"]["sent"] == 19 and campaign["nodes"]["e1"]["send_failed"] == 1
    (failure,) = campaign["failed_sends"]
    assert failure["email"] == "zero@example.com"
    assert "ZeroDivisionError" in failure["error"] and "this lead" in failure["error"]

    human = mb(env, "status", "--db", str(db))
    assert human.returncode == 0 and "Traceback" not in human.stderr
    assert "Failed sends" in human.stdout and "zero@example.com" in human.stdout
    assert "ZeroDivisionError" in human.stdout
    assert "Task send loop" not in human.stdout, "the run's send loop finished normally: nothing to report"

    import sqlite3

    with sqlite3.connect(db) as conn:
        received = [(json.loads(r), raw) for r, raw in conn.execute("SELECT rcpt_tos, raw FROM mailbox_messages")]
    recipients = sorted(r for rcpts, _raw in received for r in rcpts)
    assert len(recipients) == 19 and "zero@example.com" not in recipients
    assert "jörg@exämple.com" in recipients
    raw = next(raw for rcpts, raw in received if rcpts == ["jörg@exämple.com"])
    message = message_from_bytes(raw, policy=policy.default)
    assert message["To"] == "jörg@exämple.com"  # RFC 6532: UTF-8 in the header, over SMTPUTF8
    assert message["Subject"] == "Hello Jörg: 10 items for 100"


@pytest.fixture
async def plain_server():
    server = PickyServer(smtputf8=False)
    await server.start()
    yield server
    await server.stop()


async def test_without_smtputf8_an_idn_domain_goes_as_idna_and_a_non_ascii_local_part_fails_alone(db, plain_server):
    addresses = ["ann@example.com", "joerg@exämple.com", "jörg@exämple.com", "bob@example.com"]
    engine = start_campaign(db, one_email_json(), addresses)
    runner = runner_for(db, [engine], f"smtp://127.0.0.1:{plain_server.port}")
    await runner.start()
    try:
        await asyncio.wait_for(runner.run(), timeout=20)
    finally:
        await runner.stop()
    assert sorted(plain_server.recipients()) == ["ann@example.com", "bob@example.com", "joerg@xn--exmple-cua.com"]
    idn = next(m for m in plain_server.received if m.rcpt_tos == ["joerg@xn--exmple-cua.com"])
    assert idn.raw.isascii() and b"To: joerg@xn--exmple-cua.com" in idn.raw
    (email, status, error), = query(db, "SELECT l.email, s.status, s.error FROM sends s JOIN leads l"
                                        " ON l.id = s.lead_id WHERE s.status != 'sent'")
    assert (email, status) == ("jörg@exämple.com", "failed")
    assert "before the @" in error and "SMTPUTF8" in error
    assert runner.outbox.status.state != "paused"
    assert engine.complete_at is not None


async def test_with_smtputf8_the_address_goes_as_it_is(db):
    server = PickyServer(smtputf8=True)
    await server.start()
    engine = start_campaign(db, one_email_json(), ["jörg@exämple.com"])
    runner = runner_for(db, [engine], f"smtp://127.0.0.1:{server.port}")
    await runner.start()
    try:
        await asyncio.wait_for(runner.run(), timeout=20)
    finally:
        await runner.stop()
        await server.stop()
    (received,) = server.received
    assert received.rcpt_tos == ["jörg@exämple.com"] and "SMTPUTF8" in received.mail_options
    assert "To: jörg@exämple.com".encode() in received.raw
    assert query(db, "SELECT status FROM sends") == [("sent",)]


async def test_an_address_the_server_refuses_fails_alone(db):
    """A 5xx to one recipient is that lead's failure; the others go, and sending never pauses."""
    from .support import make_runner

    addresses = [f"lead{i}@example.com" for i in range(1, 6)]
    engine = start_campaign(db, one_email_json(), addresses)
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        runner.sandbox.fail_next(1, "550 5.1.1 No such user here")
        await asyncio.wait_for(runner.run(), timeout=20)
    finally:
        await runner.stop()
    assert query(db, "SELECT status, COUNT(*) FROM sends GROUP BY status ORDER BY status") == [
        ("failed", 1), ("sent", 4)]
    assert query(db, "SELECT error FROM sends WHERE status = 'failed'")[0][0].startswith("550")
    assert runner.outbox.status.last_errors["message"]["error"].startswith("550")


async def test_an_internationalised_address_first_on_a_new_sandbox_connection_goes_over_smtputf8(db):
    """The server's offer is read from its EHLO, also when the connection has not greeted yet."""
    from .support import mailbox, make_runner

    engine = start_campaign(db, one_email_json(), ["jörg@exämple.com"])
    runner = make_runner(db, [engine])
    await runner.start()
    try:
        await asyncio.wait_for(runner.run(), timeout=20)
    finally:
        await runner.stop()
    assert query(db, "SELECT status, error FROM sends") == [("sent", None)]
    assert [m.rcpt_tos for m in mailbox(db)] == [["jörg@exämple.com"]]

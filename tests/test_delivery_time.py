"""SEMANTICS 9: a send takes time, and the token waits for it.

In a simulation with a send rate, sends leave the queue in order at that
rate; in a real run, the token stands on its email node until the outbox has
settled the send, and everything after the email counts from that instant.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Optional

import pytest
from sqlalchemy import select

from engine.delivery.smtp import SendOutcome
from engine.flow import load_flow
from engine.run.engine import LeadInput
from engine.sim.simulate import simulate
from engine.store.models import Event, Send, Token
from tests.conftest import FLOWS
from tests.outbox_doubles import T0
from tests.outbox_doubles import real_run as outbox_run

H, D = 3600, 86400
MS_H, MS_D = H * 1000, D * 1000


def leads(n: int) -> list[LeadInput]:
    return [LeadInput(f"l{i}", f"l{i}@example.com") for i in range(1, n + 1)]


# -- simulations with a send rate ---------------------------------------------------

def test_sends_leave_the_queue_at_the_rate_and_waits_count_from_delivery(engine_db):
    """Three leads at 1/s: e1 goes out at 0, 1 and 2 s; each lead's 3-day NO wait
    starts at its own delivery, so its e3 follows 3 days after its e1."""
    result = simulate(load_flow(FLOWS / "flow-a.json"), leads(3), send_rate=1.0, db=engine_db)
    assert result.sends_of("l1") == [("e1", 0), ("e3", 3 * D)]
    assert result.sends_of("l2") == [("e1", 1), ("e3", 3 * D + 1)]
    assert result.sends_of("l3") == [("e1", 2), ("e3", 3 * D + 2)]
    assert result.complete_at == 3 * D + 2


def test_an_open_before_the_email_was_delivered_belongs_to_nothing(engine_db):
    """l3's e1 leaves the queue at 2 s: an open scripted at 1 s cannot be of it;
    one at the very instant of delivery belongs to it (delivery fires first)."""
    events = [{"lead": "l3", "type": "open", "email": "e1", "at": 1},
              {"lead": "l2", "type": "open", "email": "e1", "at": 1}]
    result = simulate(load_flow(FLOWS / "flow-a.json"), leads(3), events, send_rate=1.0, db=engine_db)
    assert result.sends_of("l3") == [("e1", 2), ("e3", 3 * D + 2)]
    # l2's open triggers at once; its e2 joins the queue behind l3's e1 (2 s) and leaves at 3 s.
    assert result.sends_of("l2") == [("e1", 1), ("e2", 3), ("e3", 3 * D + 1)]
    assert [(e["lead"], e["triggered"]) for e in result.events] == [("l3", []), ("l2", ["c1"])]


def test_the_queue_is_shared_by_every_email_of_the_campaign(engine_db):
    """Flow A with an open at once: e2 of the YES path queues behind the other leads' e1."""
    events = [{"lead": "l1", "type": "open", "email": "e1", "at": 0}]
    result = simulate(load_flow(FLOWS / "flow-a.json"), leads(3), events, send_rate=2.0, db=engine_db)
    # At 0 every lead's e1 is queued (0, 0.5, 1 s); l1's open is handled after its delivery at 0,
    # so its e2 joins the queue behind the others and leaves at 1.5 s.
    assert result.sends_of("l2") == [("e1", 0.5), ("e3", 3 * D + 0.5)]
    assert result.sends_of("l3") == [("e1", 1), ("e3", 3 * D + 1)]
    assert result.sends_of("l1") == [("e1", 0), ("e2", 1.5), ("e3", 3 * D)]


def test_without_a_rate_delivery_is_instant(engine_db):
    result = simulate(load_flow(FLOWS / "flow-a.json"), leads(3), db=engine_db)
    assert {s["at"] for s in result.sends if s["node"] == "e1"} == {0}
    assert result.complete_at == 3 * D


def test_simulate_cli_send_rate(tmp_path):
    """`simulate --send-rate 14/s`: 50 leads take 49/14 s for their first email."""
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "simulate", str(FLOWS / "flow-a.json"),
                           "--leads", "50", "--send-rate", "14/s", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    firsts = sorted(s["at"] for s in data["sends"] if s["node"] == "e1")
    assert firsts[0] == 0 and firsts[-1] == pytest.approx(49 / 14, abs=0.001)
    assert data["complete_at"] == pytest.approx(3 * D + 49 / 14, abs=0.001)


def test_simulate_cli_send_rate_per_hour_and_until(tmp_path):
    """At 60/h the tenth lead's e1 leaves at 9 minutes; stopped at 5 minutes, only six were sent."""
    base = [sys.executable, "-m", "engine.cli", "simulate", str(FLOWS / "flow-a.json"), "--leads", "10",
            "--send-rate", "60/h", "--json"]
    data = json.loads(subprocess.run(base + ["--until", "5m"], capture_output=True, text=True,
                                     timeout=120, check=True).stdout)
    assert sorted(s["at"] for s in data["sends"]) == [0, 60, 120, 180, 240, 300]
    assert data["complete_at"] is None


@pytest.mark.parametrize("rate", ["fast", "0/s", "-3/s", "14/week", "nan", "inf/s"])
def test_simulate_cli_refuses_a_bad_rate(rate):
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "simulate", str(FLOWS / "flow-a.json"),
                           "--leads", "2", "--send-rate", rate], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--send-rate" in proc.stderr and "Traceback" not in proc.stderr


# -- real runs: the outbox settles, the token moves on ------------------------------

def real_run(db, flow_name: str, n: int = 1):
    return outbox_run(db, load_flow(FLOWS / flow_name), leads(n))


def token_nodes(db) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(t.node, t.state) for t in s.execute(select(Token).order_by(Token.id)).scalars()]


def sends(db) -> list[tuple[str, str, int, Optional[int]]]:
    with db.session() as s:
        return [(x.node, x.status, x.at, x.sent_at) for x in s.execute(select(Send).order_by(Send.id)).scalars()]


async def test_token_stands_on_the_email_until_delivered_and_the_window_counts_from_delivery(engine_db):
    clock, engine, sender, outbox = real_run(engine_db, "flow-a.json")
    engine.process_until(T0)
    assert token_nodes(engine_db) == [("e1", "waiting")]
    assert sends(engine_db) == [("e1", "queued", T0, None)]

    # The server is unreachable for two hours; then the email goes out.
    clock.value = T0 + 2 * MS_H
    engine.process_until(clock.now())
    assert token_nodes(engine_db) == [("e1", "waiting")]
    assert await outbox.run_once() == 1
    assert sender.sent == ["l1@example.com"]
    engine.process_until(clock.now())
    assert token_nodes(engine_db) == [("w1", "waiting")]
    assert sends(engine_db) == [("e1", "sent", T0 + 2 * MS_H, T0 + 2 * MS_H)]

    # The listening window runs 3 days from delivery, not from the queueing:
    # an open at 3d + 1h (after 3 days from T0, inside 3 days from delivery) still counts.
    clock.value = T0 + 3 * MS_D + MS_H
    engine.record_event("open", at=clock.now(), lead="l1", email="e1")
    engine.process_until(clock.now())
    nodes = token_nodes(engine_db)
    assert ("w1", "waiting") in nodes and ("e2", "waiting") in nodes
    with engine_db.session() as s:
        triggered = [json.loads(e.triggered) for e in s.execute(select(Event).where(Event.type == "open")).scalars()]
    assert triggered == [["c1"]]


async def test_a_follow_up_never_goes_before_the_email_before_it(engine_db):
    """start -> e1 -> w1 -> e3: e3 is made only after e1 was delivered plus the wait."""
    clock, engine, sender, outbox = real_run(engine_db, "flow-a.json")
    engine.process_until(T0)
    clock.value = T0 + 5 * MS_D  # e1 was stuck for five days (an outage, a paused outbox)
    engine.process_until(clock.now())
    assert [s[0] for s in sends(engine_db)] == ["e1"]
    await outbox.run_once()
    engine.process_until(clock.now())
    clock.value = T0 + 8 * MS_D - 1
    engine.process_until(clock.now())
    assert [s[0] for s in sends(engine_db)] == ["e1"]
    clock.value = T0 + 8 * MS_D
    engine.process_until(clock.now())
    assert [(s[0], s[1]) for s in sends(engine_db)] == [("e1", "sent"), ("e3", "queued")]


async def test_completion_waits_for_a_queued_tracked_send(engine_db):
    clock, engine, sender, outbox = real_run(engine_db, "flow-a.json")
    engine.process_until(T0)
    clock.value = T0 + 3 * MS_D + 5000
    engine.process_until(clock.now())
    await outbox.run_once()  # e1, three days late
    engine.process_until(clock.now())
    clock.value = T0 + 6 * MS_D + 5000
    engine.process_until(clock.now())  # w1 ended: e3 queued
    assert engine.complete_at is None
    clock.value += 60_000
    engine.process_until(clock.now())
    assert engine.complete_at is None  # e3 still in the outbox
    await outbox.run_once()
    engine.process_until(clock.now())
    assert engine.complete_at == clock.now()
    assert token_nodes(engine_db) == [("end2", "finished")]


async def test_a_send_that_fails_for_good_fails_its_waiting_token(engine_db):
    clock, engine, sender, outbox = real_run(engine_db, "flow-a.json")
    engine.process_until(T0)
    sender.outcome = SendOutcome(ok=False, permanent=True, code=550, error="550 no such user")
    await outbox.run_once()
    engine.process_until(clock.now())
    assert token_nodes(engine_db) == [("e1", "failed")]
    assert engine.complete_at == T0


async def test_many_leads_each_move_at_their_own_delivery(engine_db):
    clock, engine, sender, outbox = real_run(engine_db, "flow-a.json", n=30)
    engine.process_until(T0)
    outbox.batch = 10  # ten go out per pass
    for step in range(3):
        clock.value = T0 + step * 1000
        await outbox.run_once()
        engine.process_until(clock.now())
    with engine_db.session() as s:
        at = sorted(x.at for x in s.execute(select(Send).where(Send.node == "e1")).scalars())
        waits = sorted(t for (t,) in s.execute(select(Token.node)).all())
    assert at == [T0] * 10 + [T0 + 1000] * 10 + [T0 + 2000] * 10
    assert waits == ["w1"] * 30

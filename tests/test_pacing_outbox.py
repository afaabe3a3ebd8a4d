"""Pacing in the outbox: a message whose provider's lane is full goes back to the queue with
the time it may go, no try spent and its token still on the email (SEMANTICS 9); the rest go."""

from __future__ import annotations

import datetime as dt

from engine.delivery.pacing import DEFAULT, DomainPacer, Pace, PacingSettings, WarmUp
from engine.flow.fileformat import flow_from_data
from engine.run.engine import LeadInput
from engine.runtime import status as runtime_status
from engine.store.bulk import fetch_all
from tests.outbox_doubles import T0, real_run

FLOW = {"format": "mailbranch.flow/1", "name": "Paced",
        "nodes": [{"id": "start", "type": "start"}, {"id": "e1", "type": "email", "subject": "Hi", "html": "<p>Hi</p>"},
                  {"id": "end", "type": "end"}],
        "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "end"}]}


def paced_run(db, addresses: list[str]):
    """The one-email campaign for ``addresses``, its emails queued at ``T0``, and its outbox."""
    clock, engine, sender, outbox = real_run(db, flow_from_data(FLOW), [LeadInput(a, a, {}) for a in addresses])
    engine.process_until(T0)
    return clock, engine, sender, outbox


async def test_a_full_lane_hands_its_messages_back_for_later_and_the_others_go(engine_db):
    addresses = [f"g{i}@gmail.com" for i in range(4)] + [f"s{i}@shop.example" for i in range(3)]
    clock, engine, sender, outbox = paced_run(engine_db, addresses)
    day = dt.date(2027, 1, 15)
    outbox.pacer = DomainPacer(PacingSettings(paces={"gmail.com": Pace(10.0, 2), DEFAULT: Pace()},
                                              warmup=WarmUp(first_day=2, start=day)),
                               clock_ms=clock.now, sleep=_no_wait, today=lambda: day)
    await outbox.run_once()
    gmail_sent = [a for a in sender.sent if a.endswith("gmail.com")]
    assert len(gmail_sent) == 2  # the warm-up's first day
    assert len([a for a in sender.sent if a.endswith("shop.example")]) == 2  # 2 a day for every lane
    engine.process_until(clock.now())
    with engine_db.session() as s:
        rows = fetch_all(s, "SELECT l.email, s.status, s.attempts, s.next_attempt_at, s.error, t.node, t.state"
                            " FROM sends s JOIN leads l ON l.id = s.lead_id JOIN tokens t ON t.id = s.token_id")
        report = runtime_status.engine_report(s)
    held = [r for r in rows if r[1] == "queued"]
    assert len(held) == 3
    midnight = int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()).timestamp() * 1000)
    for _email, _status, attempts, next_at, error, node, state in held:
        assert attempts == 0 and next_at == midnight and "warm-up" in error
        assert (node, state) == ("e1", "waiting")  # not delivered: the token still stands on the email
    assert all(r[5] == "end" for r in rows if r[1] == "sent")
    pacing = report["pacing"]
    assert pacing["lanes"]["gmail.com"]["sent_today"] == 2 and pacing["allowance_today"] == 2
    assert pacing["paces"]["gmail.com"] == "10/s, 2 at once"
    assert outbox.status.retried == 0 and outbox.status.failed == 0


async def _no_wait(seconds: float) -> None:
    return None


async def test_a_slow_lane_does_not_hold_up_the_other_domains(engine_db):
    import asyncio

    addresses = [f"o{i}@hotmail.com" for i in range(12)] + [f"s{i}@shop.example" for i in range(3)]
    clock, engine, sender, outbox = paced_run(engine_db, addresses)
    waiting = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        await waiting.wait()  # Microsoft's lane: every later slot waits until the test lets go

    outbox.pacer = DomainPacer(PacingSettings(paces={"outlook.com": Pace(1.0, None), DEFAULT: Pace()},
                                              horizon_seconds=100), clock_ms=clock.now, sleep=slow_sleep)
    run = asyncio.create_task(outbox.run_once())
    for _ in range(1000):  # the claim runs in a thread: wait for the sends, not for a time
        await asyncio.sleep(0.01)
        if len([a for a in sender.sent if a.endswith("shop.example")]) == 3:
            break
    assert sorted(a for a in sender.sent if a.endswith("shop.example")) == [f"s{i}@shop.example" for i in range(3)]
    assert len([a for a in sender.sent if a.endswith("hotmail.com")]) == 1  # the rest wait for their slots
    waiting.set()
    await run
    assert len(sender.sent) == 15

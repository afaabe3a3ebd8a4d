"""Engine rules of SEMANTICS 3-6 and 8 beyond the section 7 timelines."""

import pytest
from sqlalchemy import func, select

from engine.run.batch import Batch
from engine.run.engine import CampaignEngine, LeadInput
from engine.sim.simulate import read_result, simulate
from engine.store.database import Database
from engine.store.models import Event, Send, Skip, Wait
from tests.flows import edge, email, flow

H, D = 3600, 86400


def join_flow():
    """c1's YES and NO paths both reach e2; c2 after e2 watches the nearest send."""
    return flow(
        [{"id": "s", "type": "start"}, email("e1"), {"id": "c1", "type": "condition", "event": "open"},
         {"id": "w1", "type": "wait", "duration": "1d"}, email("e2"),
         {"id": "c2", "type": "condition", "event": "click"}, {"id": "w2", "type": "wait", "duration": "1d"},
         {"id": "end1", "type": "end"}, {"id": "end2", "type": "end"}],
        [edge("s", "e1"), edge("e1", "c1"), edge("c1", "e2", "yes"), edge("c1", "w1", "no"),
         edge("w1", "e2"), edge("e2", "c2"), edge("c2", "end1", "yes"), edge("c2", "w2", "no"),
         edge("w2", "end2")])


def test_joined_paths_send_an_email_once_and_record_the_skip(engine_db):
    events = [{"lead": "L", "at": H, "type": "open", "email": "e1"},
              {"lead": "L", "at": D + 2 * H, "type": "click", "email": "e2", "url": "https://shop.example/a"}]
    result = simulate(join_flow(), [LeadInput("L")], events, db=engine_db)
    assert result.sends_of("L") == [("e1", 0), ("e2", H)]
    assert result.skips == [{"lead": "L", "node": "e2", "at": D}]
    # The original token skipped e2 at 1d, so its c2 watches the e2 sent at 1h: the click at 1d2h
    # (after the YES token's own c2 window closed at 1d1h) triggers the original token's c2.
    assert result.events[1]["triggered"] == ["c2"]
    assert sum(1 for t in result.tokens if t["node"] == "end1") == 1


def test_one_click_triggers_every_listening_condition(engine_db):
    f = flow(
        [{"id": "s", "type": "start"}, email("e1"), {"id": "c0", "type": "condition", "event": "open"},
         {"id": "w0", "type": "wait", "duration": "1d"},
         {"id": "cA", "type": "condition", "event": "click", "email": "e1"},
         {"id": "wA", "type": "wait", "duration": "2d"}, {"id": "yes", "type": "end"},
         {"id": "no", "type": "end"}],
        [edge("s", "e1"), edge("e1", "c0"), edge("c0", "cA", "yes"), edge("c0", "w0", "no"),
         edge("w0", "cA"), edge("cA", "yes", "yes"), edge("cA", "wA", "no"), edge("wA", "no")])
    events = [{"lead": "L", "at": H, "type": "open", "email": "e1"},
              {"lead": "L", "at": D + 2 * H, "type": "click", "email": "e1", "url": "https://shop.example/b"}]
    result = simulate(f, [LeadInput("L")], events, db=engine_db)
    assert result.events[1]["triggered"] == ["cA", "cA"]
    assert sum(1 for t in result.tokens if t["node"] == "yes") == 2


def test_click_condition_limited_to_one_link():
    f = flow(
        [{"id": "s", "type": "start"}, email("e1"),
         {"id": "c1", "type": "condition", "event": "click", "url": "https://shop.example/b"},
         {"id": "w1", "type": "wait", "duration": "1d"}, email("e2"), {"id": "x", "type": "end"},
         {"id": "y", "type": "end"}],
        [edge("s", "e1"), edge("e1", "c1"), edge("c1", "e2", "yes"), edge("c1", "w1", "no"),
         edge("w1", "x"), edge("e2", "y")])
    click_a = {"lead": "L", "at": H, "type": "click", "email": "e1", "url": "https://shop.example/a"}
    click_b = {**click_a, "at": 2 * H, "url": "https://shop.example/b"}
    assert simulate(f, [LeadInput("L")], [click_a]).sends_of("L") == [("e1", 0)]
    result = simulate(f, [LeadInput("L")], [click_a, click_b])
    assert result.sends_of("L") == [("e1", 0), ("e2", 2 * H)]
    assert [e["triggered"] for e in result.events] == [[], ["c1"]]


def test_events_for_unknown_leads_or_sends_change_nothing(flows_dir):
    from engine.flow import load_flow

    f = load_flow(flows_dir / "flow-a.json")
    quiet = simulate(f, [LeadInput("L")], [])
    noisy = simulate(f, [LeadInput("L")], [
        {"lead": "ghost", "at": H, "type": "open", "email": "e1"},
        {"lead": "L", "at": H, "type": "open", "email": "e3"},  # e3 is not sent before 3d
        {"lead": "L", "at": H, "type": "open", "email": "nope"},
    ])
    assert noisy.sends == quiet.sends and noisy.tokens == quiet.tokens
    assert noisy.complete_at == quiet.complete_at
    assert [e["triggered"] for e in noisy.events] == [[], [], []]
    assert len(noisy.events) == 3  # recorded all the same


def test_replayed_event_creates_no_second_yes_token(flows_dir):
    from engine.flow import load_flow

    open_1h = {"lead": "L", "at": H, "type": "open", "email": "e1"}
    result = simulate(load_flow(flows_dir / "flow-a.json"), [LeadInput("L")], [open_1h, open_1h, open_1h])
    assert len(result.tokens) == 2
    assert [e["triggered"] for e in result.events] == [["c1"], [], []]


def _only_campaign(db) -> int:
    from engine.store.models import Campaign

    with db.session() as s:
        return s.execute(select(Campaign.id)).scalar_one()


class StepClock:
    """A real-time clock the test moves by hand: overdue work happens 'now'."""

    simulated = False

    def __init__(self, now: int) -> None:
        self.value = now

    def now(self) -> int:
        return self.value

    def reach(self, at: int) -> None:
        pass


def test_restart_fires_every_overdue_wait_once(engine_db, flows_dir):
    from engine.flow import load_flow

    db = engine_db
    clock = StepClock(1_000_000)
    engine = CampaignEngine.create(db, load_flow(flows_dir / "flow-a.json"), clock)
    engine.enroll([LeadInput(f"l{i}") for i in range(30)])
    engine.process_until()
    del engine  # the process dies; everything it knew is in the database

    clock.value += 5 * D * 1000  # it comes back two days after the waits were due
    again = CampaignEngine(db, _only_campaign(db), clock)
    again.process_until()
    again.process_until()
    with db.session() as s:
        fired = s.execute(select(func.count()).select_from(Wait).where(Wait.state == "fired")).scalar()
        pending = s.execute(select(func.count()).select_from(Wait).where(Wait.state == "pending")).scalar()
        e3 = s.execute(select(Send.at).where(Send.node == "e3")).scalars().all()
    assert pending == 0 and fired == 60  # 30 start waits and 30 w1 waits, each once
    assert len(e3) == 30 and set(e3) == {clock.value}  # overdue waits fire at once, on restart
    assert again.complete_at == clock.value


def test_a_batch_that_fails_leaves_nothing_behind(monkeypatch, tmp_path, flows_dir):
    from engine.flow import load_flow

    db = Database(tmp_path / "run.db")
    db.migrate()
    clock = StepClock(1_000_000)
    engine = CampaignEngine.create(db, load_flow(flows_dir / "flow-a.json"), clock)
    engine.enroll([LeadInput("L")])
    engine.process_until()
    engine.record_event("open", lead="L", email="e1", at=clock.value + 1000)
    clock.value += 3600 * 1000
    real_flush = Batch.flush

    def broken_flush(self):
        real_flush(self)  # writes the YES token, the e2 send, the event...
        raise OSError("disk full")

    monkeypatch.setattr(Batch, "flush", broken_flush)
    with pytest.raises(OSError):
        engine.process_until()
    with db.session() as s:
        assert s.execute(select(Event.state)).scalar() == "pending"
        assert s.execute(select(func.count()).select_from(Send)).scalar() == 1
    monkeypatch.setattr(Batch, "flush", real_flush)
    engine.process_until()
    result = read_result(db, 1, 1_000_000)
    assert [s["node"] for s in result.sends] == ["e1", "e2"]
    assert result.events[0]["triggered"] == ["c1"]
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Skip)).scalar() == 0


def test_campaign_without_leads_is_complete_at_once(flows_dir):
    from engine.flow import load_flow

    result = simulate(load_flow(flows_dir / "flow-a.json"), [], [])
    assert result.complete_at == 0

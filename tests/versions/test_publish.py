"""SEMANTICS 11: publishing an edited flow to a running campaign moves the leads
in flight onto it, keeping what was done, in one transaction."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from engine.store.models import Campaign, CampaignVersion, Token
from engine.versions.plan import PlanError
from engine.versions.publish import PublishError, publish
from tests.versions.support import DRIP, FLOW_A, T0, D, H, edited, flow, sends, start, without_w0


def test_a_shortened_wait_keeps_its_start(engine_db):
    engine = start(engine_db, FLOW_A)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    result = publish(engine_db, engine.campaign_id, flow(edited(FLOW_A, w1="1d")), clock=engine.clock, note="shorter")
    assert result.number == 2 and result.changes["retimed_waits"] == 3
    engine.record_event("open", at=T0 + D - 1000, lead="lead0", email="e1")  # still inside the re-timed window
    engine.record_event("open", at=T0 + D + 1000, lead="lead1", email="e1")  # late: the window closed at 1d
    engine.run_to_end()
    assert sends(engine_db, engine.campaign_id) == sorted(
        [(f"lead{i}", "e1", 0) for i in range(3)] + [("lead0", "e2", 24 - 1 / 3600)]
        + [(f"lead{i}", "e3", 24) for i in range(3)])
    assert engine.complete_at == T0 + D


def test_a_wait_shortened_to_before_now_fires_at_once(engine_db):
    engine = start(engine_db, FLOW_A)
    engine.run_to_end(T0 + 2 * D)
    engine.clock.reach(T0 + 2 * D)
    publish(engine_db, engine.campaign_id, flow(edited(FLOW_A, w1="1d")), clock=engine.clock)
    engine.run_to_end()
    assert [x for x in sends(engine_db, engine.campaign_id) if x[1] == "e3"] == [(f"lead{i}", "e3", 48)
                                                                                 for i in range(3)]


def test_a_lengthened_wait_ends_later_and_its_condition_listens_longer(engine_db):
    engine = start(engine_db, FLOW_A)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    publish(engine_db, engine.campaign_id, flow(edited(FLOW_A, w1="5d")), clock=engine.clock)
    engine.record_event("open", at=T0 + 4 * D, lead="lead2", email="e1")
    engine.run_to_end()
    got = sends(engine_db, engine.campaign_id)
    assert ("lead2", "e2", 96) in got
    assert [x for x in got if x[1] == "e3"] == [(f"lead{i}", "e3", 120) for i in range(3)]


def test_tokens_on_a_removed_node_go_where_the_marketer_maps_them(engine_db):
    engine = start(engine_db, DRIP)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    result = publish(engine_db, engine.campaign_id, flow(without_w0("2h")), mapping={"w0": "w9"},
                     clock=engine.clock)
    assert result.changes["moved"] == [{"from": "w0", "to": "w9", "tokens": 3}]
    engine.run_to_end()
    assert [x for x in sends(engine_db, engine.campaign_id) if x[1] == "e2"] == [(f"lead{i}", "e2", 3)
                                                                                 for i in range(3)]


def test_tokens_on_a_removed_node_finish_when_not_mapped(engine_db):
    engine = start(engine_db, DRIP)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    result = publish(engine_db, engine.campaign_id, flow(without_w0()), clock=engine.clock)
    assert result.changes["moved"] == [{"from": "w0", "to": "finish", "tokens": 3}]
    engine.run_to_end()
    assert [x[1] for x in sends(engine_db, engine.campaign_id)] == ["e1"] * 3
    assert engine.complete_at == T0 + H
    with engine_db.session() as s:
        assert set(s.execute(select(Token.state, Token.node)).all()) == {("finished", "w0")}


def test_a_rollback_publishes_an_old_version_back(engine_db):
    engine = start(engine_db, FLOW_A)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    publish(engine_db, engine.campaign_id, flow(edited(FLOW_A, w1="1d")), clock=engine.clock)
    engine.clock.reach(T0 + 2 * H)
    with engine_db.session() as s:
        first = s.execute(select(CampaignVersion.flow_json).where(CampaignVersion.number == 1)).scalar_one()
    back = publish(engine_db, engine.campaign_id, flow(json.loads(first)), clock=engine.clock,
                   note="rollback to version 1")
    assert back.number == 3
    engine.run_to_end()
    assert [x for x in sends(engine_db, engine.campaign_id) if x[1] == "e3"] == [(f"lead{i}", "e3", 72)
                                                                                 for i in range(3)]
    with engine_db.session() as s:
        versions = s.execute(select(CampaignVersion.number, CampaignVersion.note, CampaignVersion.published_at)
                             .order_by(CampaignVersion.number)).all()
        assert s.get(Campaign, engine.campaign_id).version == 3
    assert versions == [(1, None, T0), (2, None, T0 + H), (3, "rollback to version 1", T0 + 2 * H)]


def test_a_flow_with_errors_or_a_bad_mapping_is_refused_and_changes_nothing(engine_db):
    engine = start(engine_db, DRIP)
    engine.run_to_end(T0 + H)
    broken = edited(DRIP, w0="soon")
    with pytest.raises(PublishError, match="cannot run"):
        publish(engine_db, engine.campaign_id, flow(broken), clock=engine.clock)
    with pytest.raises(PlanError, match="not a node of the new version"):
        publish(engine_db, engine.campaign_id, flow(without_w0()), mapping={"w0": "nowhere"}, clock=engine.clock)
    with engine_db.session() as s:
        assert s.get(Campaign, engine.campaign_id).version == 1
    engine.run_to_end()
    assert [x[1] for x in sends(engine_db, engine.campaign_id)].count("e2") == 3


def test_a_window_with_new_hours_opens_by_them_from_when_the_lead_arrived(engine_db):
    """Each lead by its own time zone (a lead field), as the window itself does."""
    from engine.run.clock import SimulatedClock
    from engine.run.engine import CampaignEngine, LeadInput

    def with_hours(start: str) -> dict:
        return {"format": "mailbranch.flow/1", "name": "Windowed",
                "nodes": [{"id": "start", "type": "start"},
                          {"id": "e1", "type": "email", "subject": "Hello", "html": "<p>Hi</p>"},
                          {"id": "win", "type": "window", "days": ["mon", "tue", "wed", "thu", "fri"],
                           "from": start, "to": "17:00", "timezone_field": "tz"},
                          {"id": "e2", "type": "email", "subject": "Offer", "html": "<p>Offer</p>"},
                          {"id": "end", "type": "end"}],
                "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "win"}, {"from": "win", "to": "e2"},
                          {"from": "e2", "to": "end"}]}

    engine = CampaignEngine.create(engine_db, flow(with_hours("09:00")), SimulatedClock(T0))  # Thu 00:00 UTC
    engine.enroll([LeadInput("ny", "ny@example.com", {"tz": "America/New_York"}),
                   LeadInput("utc", "utc@example.com")])
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    result = publish(engine_db, engine.campaign_id, flow(with_hours("06:00")), clock=engine.clock)
    assert result.changes["retimed_nodes"] == ["win"] and result.changes["retimed_waits"] == 2
    engine.run_to_end()
    assert [x for x in sends(engine_db, engine.campaign_id) if x[1] == "e2"] == [("ny", "e2", 11), ("utc", "e2", 6)]

"""SEMANTICS 11: before publishing, what the edit does to the leads in flight,
node by node, and who would get an email they would not have got, or lose one.
Nothing changes until the marketer publishes."""

from __future__ import annotations

import copy

from sqlalchemy import select

from engine.store.models import Campaign, Wait
from engine.versions.impact import preview
from tests.versions.support import DRIP, FLOW_A, T0, D, H, edited, flow, start, without_w0


def _row(impact, node):
    return next(n for n in impact.nodes if n.node == node)


def test_a_shortened_wait_shows_its_tokens_new_ends_and_listeners_and_changes_nothing(engine_db):
    engine = start(engine_db, FLOW_A)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    impact = preview(engine_db, engine.campaign_id, flow(edited(FLOW_A, w1="1d")), clock=engine.clock)
    w1 = _row(impact, "w1")
    assert (w1.status, w1.tokens, w1.retimed, w1.new_ends) == ("re-timed", 3, 3, (T0 + D, T0 + D))
    assert _row(impact, "c1").listeners == 3
    assert impact.gained == {} and impact.lost == {}  # the same emails, only sooner
    with engine_db.session() as s:
        assert s.get(Campaign, engine.campaign_id).version == 1
        assert set(s.execute(select(Wait.due_at).where(Wait.state == "pending")).scalars()) == {T0 + 3 * D}


def test_removing_a_wait_without_mapping_loses_the_email_after_it(engine_db):
    engine = start(engine_db, DRIP, leads=4)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    unmapped = preview(engine_db, engine.campaign_id, flow(without_w0()), clock=engine.clock)
    assert unmapped.unmapped == {"w0": 4}
    assert (_row(unmapped, "w0").goes_to, _row(unmapped, "w9").status) == ("finish", "added")
    assert unmapped.leads_losing == 4 and unmapped.lost == {f"lead{i}": ["e2"] for i in range(4)}
    assert _row(unmapped, "e2").lost == 4
    mapped = preview(engine_db, engine.campaign_id, flow(without_w0()), {"w0": "w9"}, clock=engine.clock)
    assert _row(mapped, "w0").goes_to == "w9" and mapped.lost == {} and mapped.gained == {}


def test_a_new_email_on_the_path_is_gained_by_the_leads_before_it(engine_db):
    engine = start(engine_db, DRIP, leads=2)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    data = copy.deepcopy(DRIP)
    data["nodes"].append({"id": "e9", "type": "email", "subject": "Bonus", "html": "<p>Bonus</p>"})
    data["edges"] = [e for e in data["edges"] if e["from"] != "e2"] + [{"from": "e2", "to": "e9"},
                                                                       {"from": "e9", "to": "end"}]
    impact = preview(engine_db, engine.campaign_id, flow(data), clock=engine.clock)
    assert impact.gained == {"lead0": ["e9"], "lead1": ["e9"]}
    assert _row(impact, "e2").status == "rewired"


def test_a_content_change_touches_no_lead(engine_db):
    engine = start(engine_db, FLOW_A)
    engine.run_to_end(T0 + H)
    data = copy.deepcopy(FLOW_A)
    data["nodes"][5]["subject"] = "Did you miss it? (fixed)"
    impact = preview(engine_db, engine.campaign_id, flow(data), clock=engine.clock)
    assert _row(impact, "e3").status == "content"
    assert impact.leads_simulated == 0 and impact.gained == {} and impact.lost == {}


def test_leads_in_different_states_are_told_apart(engine_db):
    """Leads alike play once for all; one who already had an email does not gain it again."""
    engine = start(engine_db, FLOW_A, leads=3)
    engine.record_event("open", at=T0 + H // 2, lead="lead0", email="e1")  # lead0 got e2 at 30 min
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    data = copy.deepcopy(FLOW_A)
    data["edges"] = [e if e["from"] != "w1" else {"from": "w1", "to": "e2"} for e in data["edges"]]
    impact = preview(engine_db, engine.campaign_id, flow(data), clock=engine.clock)
    assert impact.lost == {"lead0": ["e3"], "lead1": ["e3"], "lead2": ["e3"]}
    assert impact.gained == {"lead1": ["e2"], "lead2": ["e2"]}
    assert (impact.leads_simulated, impact.plays) == (3, 2)

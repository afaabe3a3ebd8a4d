"""SEMANTICS 5: machine opens and clicks trigger only conditions that count them;
a machine's click is never an open."""

from engine.flow import load_flow
from engine.run.engine import LeadInput
from engine.sim.simulate import SIM_START, simulate
from tests.conftest import FLOWS

H, D = 3600, 86400
OFFER = "https://shop.example/offer"


def flow_a(count_machine=None, event="open"):
    f = load_flow(FLOWS / "flow-a.json")
    f.set_setting("c1", "event", event)
    if count_machine is not None:
        f.set_setting("c1", "count_machine", count_machine)
    return f


def run(f, events, db=None):
    return simulate(f, [LeadInput("L")], [{"lead": "L", "email": "e1", **e} for e in events], db=db,
                    start=SIM_START)


def test_a_privacy_proxy_open_does_not_trigger_by_default(engine_db):
    result = run(flow_a(), [{"at": 60, "type": "open", "machine": True}], engine_db)
    assert result.sends_of("L") == [("e1", 0), ("e3", 3 * D)]
    figures = result.figures
    assert figures.nodes["e1"].opened == 0 and figures.nodes["e1"].machine_opened == 1
    assert figures.events == 0 and figures.machine_events == 1
    # ...and a later human open still triggers: the machine's did not use the condition up.
    result = run(flow_a(), [{"at": 60, "type": "open", "machine": True}, {"at": H, "type": "open"}])
    assert result.sends_of("L") == [("e1", 0), ("e2", H), ("e3", 3 * D)]


def test_a_link_scanner_burst_does_not_trigger_a_click_condition():
    events = [{"at": 2 + i, "type": "click", "url": OFFER, "machine": True} for i in range(3)]
    result = run(flow_a(event="click"), events)
    assert result.sends_of("L") == [("e1", 0), ("e3", 3 * D)]
    assert result.figures.nodes["e1"].machine_clicked == 1 and result.figures.nodes["e1"].clicked == 0


def test_a_condition_that_counts_machine_events_is_triggered_by_them(engine_db):
    result = run(flow_a(count_machine=True), [{"at": 60, "type": "open", "machine": True}], engine_db)
    assert result.sends_of("L") == [("e1", 0), ("e2", 60), ("e3", 3 * D)]


def test_a_machine_click_is_not_an_open_even_where_machine_events_count():
    result = run(flow_a(count_machine=True), [{"at": 60, "type": "click", "url": OFFER, "machine": True}])
    assert result.sends_of("L") == [("e1", 0), ("e3", 3 * D)]
    clicks = run(flow_a(count_machine=True, event="click"),
                 [{"at": 60, "type": "click", "url": OFFER, "machine": True}])
    assert clicks.sends_of("L") == [("e1", 0), ("e2", 60), ("e3", 3 * D)]


def test_a_machine_open_already_seen_counts_for_a_later_condition_that_counts_them():
    """Flow B: the condition comes after a 1-day wait; an earlier machine open is
    'already happened' only for a condition that counts machine events."""
    f = load_flow(FLOWS / "flow-b.json")
    events = [{"at": H, "type": "open", "machine": True}]
    assert run(f, events).sends_of("L") == [("e1", 0), ("e3", 4 * D)]
    f.set_setting("c1", "count_machine", True)
    assert run(f, events).sends_of("L") == [("e1", 0), ("e2", D)]

"""Property tests: random valid flows and random event streams (issue 3, part 6).

The flow strategy builds random DAGs in topological order (start -> e1, then
emails, conditions with their NO wait, waits and ends; ports pick any later
node, so paths join). Which email a condition may name and which link a click
condition may name are worked out here by enumerating paths, independently of
the validator's dominator tree, and the validator must agree that the flow has
no errors.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine.flow import loads_flow, validate
from engine.flow.model import Flow
from engine.flow.validate import has_errors
from engine.run.clock import SimulatedClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.sim.simulate import SIM_START, SimulationResult, read_result, simulate
from engine.store.database import Database
from engine.store.models import Listener

URLS = ("https://shop.example/a", "https://shop.example/b", "https://shop.example/c")
STEP = 1800  # seconds; waits and most event times are multiples, so instants collide
LEADS = ("lead-1", "lead-2", "lead-3")

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- random valid flows ----------------------------------------------------------

def _paths(edges: dict[str, list[str]], start: str) -> dict[str, list[list[str]]]:
    """Every path from start to each node (flows here are small enough)."""
    found: dict[str, list[list[str]]] = {}
    stack = [[start]]
    while stack:
        path = stack.pop()
        found.setdefault(path[-1], []).append(path)
        for target in edges.get(path[-1], ()):
            stack.append(path + [target])
    return found


@st.composite
def flows(draw) -> dict[str, Any]:
    kinds = draw(st.lists(st.sampled_from(["email", "email", "condition", "condition", "wait"]),
                          min_size=1, max_size=8))
    types = ["start", "email"]
    for kind in kinds:
        types += ["condition", "wait"] if kind == "condition" else [kind]
    types += ["end"] * draw(st.integers(1, 2))
    ids = []
    counters: Counter[str] = Counter()
    for kind in types:
        counters[kind] += 1
        ids.append("start" if kind == "start" else f"{kind[0] if kind != 'end' else 'end'}{counters[kind]}")
    nodes: list[dict[str, Any]] = []
    for node_id, kind in zip(ids, types, strict=True):
        item: dict[str, Any] = {"id": node_id, "type": kind}
        if kind == "email":
            links = draw(st.lists(st.sampled_from(URLS), min_size=1, max_size=3, unique=True))
            anchors = "".join(f"<a href=\"{u}\">link {i}</a> " for i, u in enumerate(links))
            item.update(subject=f"About {node_id}", html=f"<p>{anchors}</p>")
        elif kind == "wait":
            item["duration"] = draw(st.sampled_from([STEP, 2 * STEP, "1h", "2h", "3h", "1d", 5 * STEP]))
        nodes.append(item)
    edges: list[dict[str, str]] = []
    last = len(types) - 1

    def later(first: int):
        """Any later node, most often the next one, so long chains and joins both occur."""
        return st.one_of(st.just(first), st.integers(first, last))

    for index, kind in enumerate(types):
        if kind == "end":
            continue
        if kind == "start":
            edges.append({"from": "start", "to": ids[1]})
            continue
        if kind == "condition":
            edges.append({"from": ids[index], "port": "no", "to": ids[index + 1]})  # its own wait
            yes = draw(later(index + 1))
            edges.append({"from": ids[index], "port": "yes", "to": ids[yes]})
            continue
        target = draw(later(index + 1)) if index > 1 else index + 1  # e1 leads on, never straight to an end
        edges.append({"from": ids[index], "to": ids[target]})
    # Settings of conditions, from the paths that reach them.
    succ: dict[str, list[str]] = {}
    for e in edges:
        succ.setdefault(e["from"], []).append(e["to"])
    paths = _paths(succ, "start")
    emails = {n["id"]: n for n in nodes if n["type"] == "email"}

    def links_of(email_id: str) -> set[str]:
        return {u for u in URLS if f'"{u}"' in emails[email_id]["html"]}

    for item in nodes:
        if item["type"] != "condition":
            continue
        item["event"] = draw(st.sampled_from(["open", "click"]))
        mode = draw(st.sampled_from([None, "parallel", "exclusive"]))
        if mode:
            item["mode"] = mode
        reaching = paths.get(item["id"])
        if not reaching:
            continue  # unreachable: a warning; settings stay simple
        on_every = set.intersection(*({x for x in p[:-1] if x in emails} for p in reaching))
        named = draw(st.sampled_from([None, *sorted(on_every)]))
        if named:
            item["email"] = named
            watched = {named}
        else:
            watched = {next(x for x in reversed(p[:-1]) if x in emails) for p in reaching}
        if item["event"] == "click":
            common = set.intersection(*(links_of(e) for e in watched))
            url = draw(st.sampled_from([None, *sorted(common)]))
            if url:
                item["url"] = url
    return {"format": "mailbranch.flow/1", "name": "Random", "nodes": nodes, "edges": edges}


@st.composite
def event_streams(draw, flow: dict[str, Any], leads: tuple[str, ...]) -> list[dict[str, Any]]:
    email_ids = [n["id"] for n in flow["nodes"] if n["type"] == "email"]
    event = st.fixed_dictionaries({
        "lead": st.sampled_from([*leads, *leads, "nobody"]),  # now and then a lead not enrolled
        "type": st.sampled_from(["open", "click"]),
        "email": st.sampled_from(["e1", *email_ids]),  # everyone gets e1: weight it
        "url": st.sampled_from([None, *URLS]),
        # Mostly early, on the half-hour grid that waits use (ties with wait ends), sometimes anywhere.
        "at": st.one_of(st.integers(0, 8).map(lambda k: k * STEP), st.integers(0, 60).map(lambda k: k * STEP),
                        st.integers(0, 60 * STEP)),
    })
    events = draw(st.lists(event, min_size=1, max_size=16))
    for e in events:
        if e["type"] == "open":
            e["url"] = None
    # Duplicates included: some events appear twice, as a retried request would.
    if events:
        events += draw(st.lists(st.sampled_from(events), max_size=3))
    return events


@st.composite
def scenarios(draw) -> tuple[dict, list[LeadInput], list[dict]]:
    flow = draw(flows())
    keys = LEADS[:draw(st.integers(1, len(LEADS)))]
    return flow, [LeadInput(key) for key in keys], draw(event_streams(flow, keys))


def to_flow(data: dict) -> Flow:
    return loads_flow(json.dumps(data))


def run(data: dict, leads: list[LeadInput], events: list[dict], **kwargs: Any) -> SimulationResult:
    # Campaign time 0 at SIM_START: the listener rows read back below are converted with it.
    return simulate(to_flow(data), leads, events, **{"start": SIM_START, **kwargs})


def without_events(result: SimulationResult) -> dict:
    data = result.as_json()
    data.pop("events")
    return data


def listeners_of(db: Database, campaign_id: int) -> list[Listener]:
    with db.session() as s:
        return list(s.execute(select(Listener).where(Listener.campaign_id == campaign_id)).scalars())


def seconds(ms: int) -> float:
    value = (ms - SIM_START) / 1000
    return int(value) if value == int(value) else value


# -- the properties ----------------------------------------------------------------

@SETTINGS
@given(flows())
def test_generated_flows_are_valid(data):
    findings = validate(to_flow(data))
    assert not has_errors(findings), [(f.code, f.node, f.message) for f in findings if f.is_error]


@SETTINGS
@given(scenarios())
def test_run_invariants(scenario):
    data, leads, events = scenario
    db = Database(":memory:")
    result = run(data, leads, events, db=db)
    tokens = {t["id"]: t for t in result.tokens}

    # No email node is sent twice to one lead.
    sent = Counter((x["lead"], x["node"]) for x in result.sends)
    assert all(count == 1 for count in sent.values()), sent
    # Every lead got the first email at the start.
    assert {(x["lead"], x["at"]) for x in result.sends if x["node"] == "e1"} == {(k.key, 0) for k in leads}

    # At most one YES per listening token and condition.
    listeners = listeners_of(db, result.campaign_id)
    per_token_condition = Counter((x.token_id, x.condition) for x in listeners)
    assert all(count == 1 for count in per_token_condition.values()), per_token_condition
    triggered = [x for x in listeners if x.state == "triggered"]
    assert sum(len(e["triggered"]) for e in result.events) == len(triggered)
    children = Counter(t["parent"] for t in result.tokens if t["parent"] is not None)
    parallel_triggers = Counter(x.token_id for x in triggered if x.mode == "parallel")
    assert children == parallel_triggers
    for x in triggered:
        if x.mode == "parallel":
            assert tokens[x.triggered_token]["parent"] == x.token_id
        else:
            assert x.triggered_token == x.token_id

    # A full run ends with every token finished and the campaign complete.
    assert all(t["state"] == "finished" and t["finished_at"] is not None for t in result.tokens)
    assert result.complete_at is not None

    # Completion (SEMANTICS 6): tracked means original, or gone down a NO path.
    became_tracked: dict[int, float] = {t["id"]: 0 for t in result.tokens if t["parent"] is None}
    for x in sorted(listeners, key=lambda x: x.since):
        became_tracked.setdefault(x.token_id, seconds(x.since))
    for t in result.tokens:
        assert t["tracked"] == (t["id"] in became_tracked), t
    done = result.complete_at
    # Every token tracked before completion had finished by then...
    for token_id, since in became_tracked.items():
        if since < done:
            assert tokens[token_id]["finished_at"] <= done, (token_id, since, done)
    # ...and completion came no later than the first instant when all tracked tokens were done.
    instants = sorted({t["finished_at"] for t in result.tokens if t["tracked"]})
    first_all_done = next(t for t in instants
                          if all(tokens[i]["finished_at"] <= t for i, s in became_tracked.items() if s <= t))
    assert done <= first_all_done
    assert done in instants  # the moment the last tracked token finished, not some other time


@SETTINGS
@given(scenarios(), st.data())
def test_duplicated_events_change_nothing(scenario, extra):
    data, leads, events = scenario
    once = {json.dumps(e, sort_keys=True): e for e in events}
    unique = list(once.values())
    doubled = unique + extra.draw(st.lists(st.sampled_from(unique), min_size=1), label="again") \
        if unique else []
    order = extra.draw(st.permutations(doubled), label="order") if doubled else []
    # Distinct events at one instant are handled in the order they were recorded (SEMANTICS 5),
    # so the run without duplicates keeps the order in which each event first appears.
    first_seen = list({json.dumps(e, sort_keys=True): e for e in order}.values())
    assert without_events(run(data, leads, order)) == without_events(run(data, leads, first_seen))


def _run_with_replay(data: dict, leads: list[LeadInput], events: list[dict], pause: int,
                     replay: bool) -> dict:
    """Run to ``pause`` seconds, record again every event already past (if ``replay``), run to the end."""
    db = Database(":memory:")
    db.migrate()
    engine = CampaignEngine.create(db, to_flow(data), SimulatedClock(SIM_START))
    engine.enroll(leads)
    stamped = [{**e, "at": SIM_START + e["at"] * 1000} for e in events]
    engine.record_events(stamped)
    engine.run_to_end(SIM_START + pause * 1000)
    if replay:
        engine.record_events([e for e in stamped if e["at"] <= SIM_START + pause * 1000])
    engine.run_to_end()
    result = read_result(db, engine.campaign_id, SIM_START)
    return without_events(result)


@SETTINGS
@given(scenarios(), st.integers(0, 60).map(lambda k: k * STEP))
def test_replaying_handled_events_changes_nothing(scenario, pause):
    data, leads, events = scenario
    assert _run_with_replay(data, leads, events, pause, True) == \
        _run_with_replay(data, leads, events, pause, False)


@SETTINGS
@given(scenarios())
def test_same_result_in_memory_on_file_and_in_small_batches(scenario):
    data, leads, events = scenario
    memory = run(data, leads, events).as_json()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "run.db")
        try:
            on_file = run(data, leads, events, db=db).as_json()
        finally:
            db.dispose()
    small = run(data, leads, events, batch_size=3).as_json()
    assert on_file == memory
    assert small == memory


def _example_flow() -> dict:
    return {"format": "mailbranch.flow/1", "name": "A", "nodes": [
        {"id": "start", "type": "start"},
        {"id": "e1", "type": "email", "subject": "Hi", "html": f"<a href=\"{URLS[0]}\">x</a>"},
        {"id": "c1", "type": "condition", "event": "open"},
        {"id": "w1", "type": "wait", "duration": "3d"},
        {"id": "e2", "type": "email", "subject": "Yes", "html": "<p>y</p>"},
        {"id": "end1", "type": "end"}],
        "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "c1"},
                  {"from": "c1", "port": "yes", "to": "e2"}, {"from": "c1", "port": "no", "to": "w1"},
                  {"from": "w1", "to": "end1"}, {"from": "e2", "to": "end1"}]}


def test_properties_can_fail_on_a_known_flow():
    """The checks above see real differences: a second open after the window triggers nothing,
    an open inside it triggers once (SEMANTICS 7, A5)."""
    leads = [LeadInput("lead-1")]
    inside = [{"lead": "lead-1", "type": "open", "email": "e1", "url": None, "at": 3600}]
    result = run(_example_flow(), leads, inside + inside + [{**inside[0], "at": 7200}])
    assert result.sends_of("lead-1") == [("e1", 0), ("e2", 3600)]
    assert [e["triggered"] for e in result.events] == [["c1"], [], []]
    assert result.complete_at == 259200
    assert without_events(result) != without_events(run(_example_flow(), leads, []))


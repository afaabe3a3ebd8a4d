"""SEMANTICS 10, window: inside it moves on at once; outside it waits for the
next opening in the lead's local time, daylight saving included."""

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from engine.flow.fileformat import dumps_flow
from engine.flow.validate import validate
from engine.run.engine import LeadInput
from engine.sim.simulate import simulate
from tests.flows import edge, email, flow

H, D = 3600, 86400


def at(text):
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def window_flow(days=("mon", "tue", "wed", "thu", "fri"), start="09:00", end="17:00", timezone=None,
                flow_zone="Europe/Paris", field=None, after_wait=None):
    window = {"id": "win1", "type": "window", "days": list(days), "from": start, "to": end}
    if timezone:
        window["timezone"] = timezone
    if field:
        window["timezone_field"] = field
    nodes = [{"id": "start", "type": "start"}, window, email("e1"), {"id": "end1", "type": "end"}]
    edges = [edge("start", "win1"), edge("win1", "e1"), edge("e1", "end1")]
    if after_wait:
        nodes.append({"id": "w0", "type": "wait", "duration": after_wait})
        edges = [edge("start", "w0"), edge("w0", "win1"), edge("win1", "e1"), edge("e1", "end1")]
    f = flow(nodes, edges)
    f.extra["timezone"] = flow_zone
    return f


def sends(f, start, leads=(LeadInput("L"),), db=None):
    result = simulate(f, list(leads), db=db, start=at(start))
    return {s["lead"]: s["at"] for s in result.sends}, result


def test_inside_the_window_the_token_moves_on_at_once(engine_db):
    sent, result = sends(window_flow(), "2026-12-02T10:00:00+01:00", db=engine_db)  # a Wednesday
    assert sent == {"L": 0} and result.complete_at == 0


def test_outside_it_waits_for_the_next_opening_and_holds_the_campaign_open(engine_db):
    # Friday 18:00 in Paris: the window next opens Monday 09:00, 63 hours later.
    sent, result = sends(window_flow(), "2026-12-04T18:00:00+01:00", db=engine_db)
    assert sent == {"L": 63 * H}
    assert result.complete_at == 63 * H
    # The closing minute is outside ([from, to)); the opening minute is inside.
    assert sends(window_flow(), "2026-12-02T17:00:00+01:00")[0] == {"L": 16 * H}
    assert sends(window_flow(), "2026-12-02T09:00:00+01:00")[0] == {"L": 0}


def test_the_node_zone_wins_over_the_flow_zone_and_a_lead_zone_over_both():
    f = window_flow(timezone="America/New_York", field="tz")
    leads = [LeadInput("ny", fields={}), LeadInput("tokyo", fields={"tz": "Asia/Tokyo"}),
             LeadInput("bad", fields={"tz": "Mars/Olympus"})]
    # Wednesday 2026-12-02 12:00 UTC: 07:00 in New York, 21:00 in Tokyo.
    sent, _ = sends(f, "2026-12-02T12:00:00+00:00", leads)
    assert sent["ny"] == 2 * H  # opens 09:00 New York = 14:00 UTC
    assert sent["bad"] == 2 * H  # not a valid zone: the node's zone
    assert sent["tokyo"] == 12 * H  # Thursday 09:00 Tokyo = 00:00 UTC


def test_an_opening_inside_the_spring_forward_gap_opens_right_after_the_gap():
    # Paris, Sunday 2026-03-29: clocks go from 02:00 to 03:00. A window opening at 02:30 opens at 03:00 CEST.
    sent, _ = sends(window_flow(days=["sun"], start="02:30", end="05:00"), "2026-03-29T00:00:00+01:00")
    assert sent == {"L": 2 * H}  # 00:00 CET -> 03:00 CEST is two real hours


def test_an_opening_in_the_repeated_fall_back_hour_opens_at_the_first():
    # Paris, Sunday 2026-10-25: clocks go from 03:00 back to 02:00. 02:30 happens twice; the first counts.
    sent, _ = sends(window_flow(days=["sun"], start="02:30", end="05:00"), "2026-10-25T00:00:00+02:00")
    assert sent == {"L": 2.5 * H}


def test_a_window_after_a_wait_counts_from_when_the_token_arrives():
    # Start Monday 08:00 Paris; a 1d wait; Tuesday 08:00 is outside; opens Tuesday 09:00.
    sent, _ = sends(window_flow(after_wait="1d"), "2026-11-30T08:00:00+01:00")
    assert sent == {"L": D + H}


def test_window_settings_are_checked():
    def errors(f):
        return [(x.code, x.node) for x in validate(f) if x.severity == "error"]

    assert ("bad-setting", "win1") in errors(window_flow(days=[]))
    assert ("bad-setting", "win1") in errors(window_flow(days=["monday"]))
    assert ("bad-setting", "win1") in errors(window_flow(start="9am"))
    assert ("bad-setting", "win1") in errors(window_flow(start="17:00", end="09:00"))
    assert ("bad-setting", "win1") in errors(window_flow(start="10:00", end="10:00"))
    assert ("bad-setting", "win1") in errors(window_flow(timezone="Europe/Atlantis"))
    assert ("bad-setting", None) in errors(window_flow(flow_zone="Moon/Base"))
    assert errors(window_flow()) == []


def test_a_window_only_yes_paths_reach_is_a_warning_and_is_not_a_timeout():
    nodes = [{"id": "start", "type": "start"}, email("e1"), {"id": "c1", "type": "condition", "event": "open"},
             {"id": "win1", "type": "window", "days": ["mon"], "from": "09:00", "to": "10:00"},
             {"id": "w1", "type": "wait", "duration": "1d"}, {"id": "end1", "type": "end"},
             {"id": "end2", "type": "end"}]
    edges = [edge("start", "e1"), edge("e1", "c1"), edge("c1", "win1", "yes"), edge("win1", "end1"),
             edge("c1", "w1", "no"), edge("w1", "end2")]
    findings = validate(flow(nodes, edges))
    assert [(x.code, x.node) for x in findings] == [("wait-on-yes-path", "win1")]
    swapped = [edge("start", "e1"), edge("e1", "c1"), edge("c1", "w1", "yes"), edge("w1", "end1"),
               edge("c1", "win1", "no"), edge("win1", "end2")]
    codes = {x.code for x in validate(flow(nodes, swapped))}
    assert "no-path-must-start-with-wait" in codes


def test_simulate_start_through_the_cli(tmp_path):
    path = tmp_path / "flow.json"
    path.write_text(dumps_flow(window_flow()))
    args = [sys.executable, "-m", "engine.cli", "simulate", str(path), "--leads", "2", "--json"]
    proc = subprocess.run(args + ["--start", "2026-12-04T18:00:00+01:00"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [s["at"] for s in data["sends"]] == [63 * H, 63 * H] and data["complete_at"] == 63 * H
    bad = subprocess.run(args + ["--start", "next friday"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "--start" in bad.stderr


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"])
def test_every_opening_is_inside_its_window(zone):
    """Property-style: from any start, the chosen instant is inside the window and nothing earlier is."""

    from engine.nodes.window_times import inside, next_opening
    from engine.nodes.window_times import zone as get_zone
    z = get_zone(zone)
    days = frozenset({0, 2, 6})
    origin = at("2026-03-20T00:00:00+00:00")
    for step in range(0, 60 * 24 * 21, 97):  # three weeks around spring changes, every 97 minutes
        now = origin + step * 60_000
        opening = next_opening(now, days, 150, 210, z)
        assert opening >= now and inside(opening, days, 150, 210, z), datetime.fromtimestamp(opening / 1000, UTC)
        if opening > now:
            assert not inside(opening - 60_000, days, 150, 210, z) or opening - 60_000 < now

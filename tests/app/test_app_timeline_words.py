"""The lead timeline says what became of each email the lead's path reached:
waiting to go out (a send takes time), or not sent and why (suppression list)."""

from pathlib import Path

from app.lead_timeline import timeline_lines
from engine.flow.fileformat import load_flow

ROOT = Path(__file__).resolve().parents[2]
START = 1_767_225_600_000
DAY = 86_400_000


def sample():
    return load_flow(ROOT / "resources" / "flows" / "sample.json")


def test_a_queued_email_says_it_waits_to_go_out_and_why():
    data = {"fields": {}, "email": "ben@example.com", "events": [], "waits": [],
            "tokens": [{"id": 1, "parent": None, "created_at": START}],
            "sends": [{"id": 1, "node": "e1", "at": START, "status": "queued", "token": 1,
                       "error": "the outgoing mail server cannot be reached"}]}
    assert [t for _at, t in timeline_lines(data, START, sample())] == [
        "queued “Hi there, our spring offer” (waiting to go out: the outgoing mail server cannot be reached)"]


def test_a_suppressed_address_shows_each_email_not_sent_with_the_reason():
    data = {"fields": {}, "email": "ann@example.com", "events": [], "sends": [],
            "tokens": [{"id": 1, "parent": None, "created_at": START}],
            "waits": [{"node": "w1", "due_at": START + 3 * DAY, "state": "fired", "token": 1}],
            "skips": [{"node": "e1", "at": START, "reason": "unsubscribe", "token": 1},
                      {"node": "e3", "at": START + 3 * DAY, "reason": "unsubscribe", "token": 1}]}
    assert [t for _at, t in timeline_lines(data, START, sample())] == [
        "not sent “Hi there, our spring offer”: the address unsubscribed (suppression list)",
        "Wait 3 days ended",
        "not sent “Did you miss it?”: the address unsubscribed (suppression list)"]


HOUR = 3_600_000
WINDOW = {"node": "win", "opens_at": START + 14 * HOUR, "opens_local": "Mon 09:00", "zone": "America/New_York",
          "text": "opens Mon 09:00 local"}


def test_an_unsubscribe_reads_as_an_unsubscribe_not_a_click():
    data = {"fields": {}, "email": "ann@example.com", "waits": [], "skips": [],
            "tokens": [{"id": 1, "parent": None, "created_at": START}],
            "sends": [{"id": 1, "node": "e1", "at": START, "status": "sent", "token": 1}],
            "events": [{"type": "unsubscribe", "node": "e1", "send": 1, "at": START + HOUR, "url": None,
                        "triggered": []}]}
    assert [t for _at, t in timeline_lines(data, START, sample())] == [
        "sent “Hi there, our spring offer”", "unsubscribed from “Hi there, our spring offer”"]


def test_a_machine_open_says_a_machine_made_it():
    data = {"fields": {}, "email": "ann@example.com", "waits": [], "skips": [],
            "tokens": [{"id": 1, "parent": None, "created_at": START}],
            "sends": [{"id": 1, "node": "e1", "at": START, "status": "sent", "token": 1}],
            "events": [{"type": "open", "node": "e1", "send": 1, "at": START + 1000, "machine": True,
                        "triggered": []}]}
    assert timeline_lines(data, START, sample())[1][1] == (
        "opened “Hi there, our spring offer” by a machine (privacy proxy or link scanner)")


def test_a_lead_held_by_a_window_reads_when_it_opens_on_its_clock():
    from app.lead_timeline import lead_state, path_state

    waiting = {"id": 1, "parent": None, "node": "win", "state": "waiting", "tracked": True, "window": WINDOW}
    lead = {"key": "ana", "unsubscribed": False, "converted_at": None, "tokens": [waiting]}
    assert lead_state(lead, START) == "waiting for the window (opens Mon 09:00 local)"
    assert path_state([waiting]) == "waiting for the window (opens Mon 09:00 local)"
    # Another path still going elsewhere: the lead is in progress.
    other = {"id": 2, "parent": 1, "node": "w1", "state": "waiting", "tracked": False, "window": None}
    assert lead_state({**lead, "tokens": [waiting, other]}, START) == "in progress"
    data = {"fields": {}, "email": "ana@example.com", "events": [], "sends": [], "skips": [],
            "tokens": [{"id": 1, "parent": None, "created_at": START}],
            "waits": [{"node": "win", "due_at": START + 14 * HOUR, "state": "pending", "token": 1,
                       "window": WINDOW}]}
    assert [t for _at, t in timeline_lines(data, START, sample())] == [
        "waiting for the window (opens Mon 09:00 local)"]
    data["waits"][0]["state"] = "fired"
    assert timeline_lines(data, START, sample())[0][1] == "the window opened (Mon 09:00 local)"


def test_a_converted_lead_reads_converted_at_its_time():
    from app.lead_timeline import lead_state

    finished = {"id": 1, "parent": None, "node": "w1", "state": "finished", "tracked": True, "window": None}
    lead = {"key": "ana", "unsubscribed": False, "converted_at": START + 26 * HOUR, "tokens": [finished]}
    assert lead_state(lead, START) == "converted at 1d 02:00"
    data = {"fields": {}, "email": "ana@example.com", "skips": [], "waits": [], "converted_at": START + 26 * HOUR,
            "tokens": [{"id": 1, "parent": None, "created_at": START}],
            "sends": [{"id": 1, "node": "e1", "at": START, "status": "sent", "token": 1}],
            "events": [{"type": "click", "node": "e1", "send": 1, "at": START + 26 * HOUR,
                        "url": "https://shop.example/offer", "triggered": []}]}
    assert [t for _at, t in timeline_lines(data, START, sample())][-2:] == [
        "clicked “Hi there, our spring offer” (https://shop.example/offer)",
        "converted: reached the campaign's goal"]

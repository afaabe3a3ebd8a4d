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

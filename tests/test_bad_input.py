"""Bad input never crashes and never counts (issue 7.4): the flow loader, and tracking
URLs against the real tracking server with the engine's real sink.

Each property reports how many inputs it tried (``-s`` shows the counts).
"""

import asyncio
import json
import string

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from engine.delivery.tracking_server import PIXEL_GIF, TrackingServer
from engine.delivery.tracking_tokens import TrackingTokens
from engine.flow.fileformat import FlowFileError, flow_from_data, loads_flow
from engine.flow.validate import validate
from engine.run.clock import SimulatedClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.runtime.sink import EngineSink
from engine.store.database import Database
from engine.store.models import Event
from tests.conftest import FLOWS

TRIED: dict[str, int] = {}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)
node_like = st.fixed_dictionaries({"id": st.text(max_size=4) | st.integers(), "type": st.sampled_from(
    ["start", "email", "condition", "wait", "end", "mystery"])},
    optional={"subject": json_values, "html": json_values, "event": json_values, "duration": json_values,
              "email": json_values, "url": json_values, "mode": json_values})
flow_like = st.fixed_dictionaries({"format": st.sampled_from(["mailbranch.flow/1", "mailbranch.flow/9"])},
                                  optional={"nodes": st.lists(node_like, max_size=6) | json_values,
                                            "edges": st.lists(st.dictionaries(
                                                st.sampled_from(["from", "to", "port"]),
                                                json_values | st.text(max_size=3), max_size=3), max_size=6)
                                            | json_values, "name": json_values})


@settings(max_examples=400, deadline=None)
@given(st.one_of(flow_like, json_values))
def test_any_json_loads_or_gives_one_clear_error(data):
    TRIED["flow documents"] = TRIED.get("flow documents", 0) + 1
    try:
        flow = flow_from_data(data)
    except FlowFileError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        return
    validate(flow)  # whatever loaded, validation copes with it


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_text_loads_or_gives_one_clear_error(text):
    TRIED["flow texts"] = TRIED.get("flow texts", 0) + 1
    try:
        loads_flow(text)
    except FlowFileError as exc:
        assert "\n" not in str(exc)


class Tracking:
    """The real tracking server and sink, over a campaign with real sends."""

    def __init__(self, tmp_path):
        self.db = Database(tmp_path / "t.db")
        self.db.migrate()
        from engine.flow import load_flow

        engine = CampaignEngine.create(self.db, load_flow(FLOWS / "flow-a.json"), SimulatedClock(),
                                       delivery="real")
        engine.enroll([LeadInput("a", "a@example.com"), LeadInput("b", "b@example.com")])
        engine.run_to_end(engine.clock.now())
        self.campaign_id = engine.campaign_id
        self.uid = engine.uid
        self.tokens = TrackingTokens(b"k" * 32)
        self.other_tokens = TrackingTokens(b"z" * 32)

    def events(self) -> int:
        with self.db.session() as s:
            return s.execute(select(func.count()).select_from(Event)).scalar()


TOKEN_CHARS = string.ascii_letters + string.digits + "-_.~%"


def test_forged_damaged_oversized_and_wrong_campaign_tokens(tmp_path):
    world = Tracking(tmp_path)
    uid = world.uid
    good_open = world.tokens.open_token(uid, 1)
    good_click = world.tokens.click_token(uid, 1, "https://shop.example/offer")
    bad = [
        world.other_tokens.open_token(uid, 1),                      # signed with another installation's key
        world.tokens.open_token("another-campaign-uid", 1),          # right key, another campaign
        world.tokens.open_token(uid, 999),                           # a send that does not exist
        good_open[:-3], good_open[:10], good_open + "x",            # truncated, damaged
        "A" * 4000,                                                  # oversized, within HTTP limits
        world.tokens.unsubscribe_token(uid, 1, "a@example.com"),     # another purpose
    ]
    # Genuine, but of another campaign: goes to its own email's link and records nothing.
    foreign_click = world.tokens.click_token("another-campaign-uid", 1, "https://old.example/")
    bad_clicks = [world.other_tokens.click_token(uid, 1, "https://evil.example"),
                  good_click[:-2], good_click.replace(good_click[5], "Q" if good_click[5] != "Q" else "R", 1),
                  "B" * 4000]

    async def scenario():
        server = TrackingServer(world.tokens, EngineSink(world.db), port=0)
        await server.start()
        base = server.public_url
        async with aiohttp.ClientSession() as http:
            for token in bad:
                async with http.get(f"{base}/o/{token}.gif") as r:
                    assert r.status == 200 and await r.read() == PIXEL_GIF
            for token in bad_clicks:
                async with http.get(f"{base}/c/{token}", allow_redirects=False) as r:
                    assert r.status in (404, 414, 400) and "Location" not in r.headers
            # Beyond the HTTP request-line limit, the server refuses the request itself.
            for route in ("o", "c"):
                async with http.get(f"{base}/{route}/{'C' * 20000}", allow_redirects=False) as r:
                    assert r.status in (400, 414) and "Location" not in r.headers
            async with http.get(f"{base}/c/{foreign_click}", allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"] == "https://old.example/"
            async with http.get(f"{base}/c/{good_click}", allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"] == "https://shop.example/offer"
        rejected = server.rejected
        await server.stop()
        return rejected

    rejected = asyncio.run(scenario())
    assert world.events() == 1  # only the genuine click
    assert rejected == len(bad) + len(bad_clicks) + 1  # + the foreign click


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tokens=st.lists(st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=120), min_size=1, max_size=8))
def test_random_tracking_urls_record_nothing_and_never_redirect(tmp_path_factory, tokens):
    world = Tracking(tmp_path_factory.mktemp("t"))

    async def scenario():
        server = TrackingServer(world.tokens, EngineSink(world.db), port=0)
        await server.start()
        base = server.public_url
        async with aiohttp.ClientSession() as http:
            for token in tokens:
                TRIED["tracking URLs"] = TRIED.get("tracking URLs", 0) + 2
                async with http.get(f"{base}/o/{token}.gif") as r:
                    assert r.status == 200
                async with http.get(f"{base}/c/{token}", allow_redirects=False) as r:
                    assert r.status != 302 and "Location" not in r.headers
        await server.stop()

    asyncio.run(scenario())
    assert world.events() == 0




import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _report_inputs_tried():
    yield
    print("\nbad inputs tried:", json.dumps(TRIED))

from __future__ import annotations

import aiohttp
import pytest

from engine.delivery.render import EmailContent, render_email
from engine.delivery.tracked_links import TrackingUrls
from engine.delivery.tracking_server import PIXEL_GIF, TrackingServer

UID = "campaign3-uid-AAAAAAAAAA"  # the campaign this sink knows
OLD_UID = "older-campaign-uid-BBBBBB"  # a campaign of another database


class RecordingSink:
    """Knows sends 41 and 42 and lead 9 of campaign UID; records what it is told."""

    def __init__(self) -> None:
        self.opens: list[tuple] = []
        self.clicks: list[tuple] = []
        self.unsubscribed: list[tuple] = []
        self.suppressed: list[str] = []
        self.machine: list[tuple] = []  # (kind, send id, reason) of events taken for a machine's
        self.fail = False

    async def record_open(self, campaign_id, send_id, at):
        if self.fail:
            raise RuntimeError("database is locked")
        self.opens.append((campaign_id, send_id, at))
        return (campaign_id, send_id) in {(UID, 41), (UID, 42)}

    async def record_click(self, campaign_id, send_id, url, at, machine=None):
        if self.fail:
            raise RuntimeError("database is locked")
        if machine:
            self.machine.append(("click", send_id, machine))
        known = (campaign_id, send_id) in {(UID, 41), (UID, 42)}
        if known:
            self.clicks.append((campaign_id, send_id, url, at))
        return known

    async def unsubscribe(self, campaign_id, lead_id, email):
        if campaign_id == UID and lead_id == 9:
            self.unsubscribed.append((campaign_id, lead_id, email))
            return "unsubscribed"
        if email:
            self.suppressed.append(email)
            return "suppressed"
        return "unknown"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def server(tokens, sink):
    tracking = TrackingServer(tokens, sink, clock=lambda: 1_000)
    await tracking.start()
    yield tracking
    await tracking.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http, url, **kwargs):
    async with http.get(url, allow_redirects=False, **kwargs) as response:
        return response.status, response.headers, await response.read()


async def test_listens_on_a_real_port_and_serves_its_public_url(server):
    assert server.port > 0
    assert server.public_url == f"http://127.0.0.1:{server.port}"
    server.public_url = "https://track.shop.example/"
    assert server.public_url == "https://track.shop.example"


async def test_pixel_records_the_open(server, http, tokens, sink):
    status, headers, body = await get(http, f"{server.public_url}/o/{tokens.open_token(UID, 41)}.gif")
    assert (status, headers["Content-Type"], body) == (200, "image/gif", PIXEL_GIF)
    assert "no-store" in headers["Cache-Control"]
    assert sink.opens == [(UID, 41, 1_000)]
    assert server.rejected == 0


@pytest.mark.parametrize("token", ["forged", "WzMsNDFd.AAAAAAAAAAAAAAAAAAAAAAAAAAA", "WzMsNDFd"])
async def test_pixel_answers_200_on_forged_token_and_counts_it(server, http, sink, token):
    status, headers, body = await get(http, f"{server.public_url}/o/{token}.gif")
    assert (status, body) == (200, PIXEL_GIF)
    assert sink.opens == []
    assert server.rejected == 1


async def test_pixel_for_unknown_send_is_counted_as_rejected(server, http, tokens, sink):
    status, _, body = await get(http, f"{server.public_url}/o/{tokens.open_token(UID, 999)}.gif")
    assert (status, body) == (200, PIXEL_GIF)
    assert server.rejected == 1 and server.counters.foreign == 1


async def test_pixel_still_answers_when_recording_fails(server, http, tokens, sink):
    sink.fail = True
    status, _, body = await get(http, f"{server.public_url}/o/{tokens.open_token(UID, 41)}.gif")
    assert (status, body) == (200, PIXEL_GIF)
    assert server.counters.sink_errors == 1


async def test_click_redirects_to_the_link_in_the_email(server, http, tokens, sink):
    urls = TrackingUrls(server.public_url, tokens, UID, 41, 9, "ann@example.com")
    email = render_email(EmailContent("Hi", '<a href="https://shop.example/offer?x=1">Offer</a>'), {},
                         email="ann@example.com", sender="shop@example.com", urls=urls, token_id=1, node_id="e1")
    html = email.message.get_body(("html",)).get_content()
    tracked = html.split('href="', 1)[1].split('"', 1)[0]
    status, headers, _ = await get(http, tracked)
    assert (status, headers["Location"]) == (302, "https://shop.example/offer?x=1")
    assert sink.clicks == [(UID, 41, "https://shop.example/offer?x=1", 1_000)]


async def test_replayed_click_redirects_again_and_the_sink_sees_both(server, http, tokens, sink):
    url = f"{server.public_url}/c/{tokens.click_token(UID, 41, 'https://shop.example/')}"
    assert (await get(http, url))[0] == 302
    assert (await get(http, url))[0] == 302
    assert len(sink.clicks) == 2  # idempotency is the engine's: the same send, the same url


@pytest.mark.parametrize("make", [
    lambda t: "forged-token",
    lambda t: t.click_token(UID, 41, "https://shop.example/")[:-3],
    lambda t: t.open_token(UID, 41),
])
async def test_click_on_bad_token_is_404_and_never_redirects(server, http, tokens, sink, make):
    status, headers, body = await get(http, f"{server.public_url}/c/{make(tokens)}")
    assert status == 404
    assert "Location" not in headers
    assert sink.clicks == []
    assert server.rejected == 1


async def test_click_token_cannot_be_edited_to_redirect_elsewhere(server, http, tokens):
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer(b"guess", salt="mailbranch.click").dumps([3, 41, "https://evil.example/"])
    status, headers, _ = await get(http, f"{server.public_url}/c/{forged}")
    assert status == 404 and "Location" not in headers


async def test_unsubscribe_page_then_button(server, http, tokens, sink):
    url = f"{server.public_url}/u/{tokens.unsubscribe_token(UID, 9, 'ann@example.com')}"
    status, headers, body = await get(http, url)
    assert status == 200 and b"<form method='post'>" in body and b"Unsubscribe</button>" in body
    assert sink.unsubscribed == []  # a GET (a link scanner) must not unsubscribe
    async with http.post(url, data={"List-Unsubscribe": "One-Click"}) as response:
        assert response.status == 200
        assert "You are unsubscribed" in await response.text()
    assert sink.unsubscribed == [(UID, 9, "ann@example.com")]


async def test_one_click_unsubscribe_post_rfc8058(server, http, tokens, sink):
    url = f"{server.public_url}/u/{tokens.unsubscribe_token(UID, 9, 'ann@example.com')}"
    async with http.post(url, data=b"List-Unsubscribe=One-Click",
                         headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
        assert response.status == 200
    assert sink.unsubscribed == [(UID, 9, "ann@example.com")]


async def test_unsubscribe_with_bad_token_is_404(server, http, tokens, sink):
    good = tokens.unsubscribe_token(UID, 9, "ann@example.com")
    for token in ("nope", tokens.open_token(UID, 9), good[:-2]):
        async with http.post(f"{server.public_url}/u/{token}", data=b"List-Unsubscribe=One-Click") as response:
            assert response.status == 404
    assert sink.unsubscribed == [] and sink.suppressed == []
    assert server.rejected == 3


@pytest.mark.parametrize("campaign,send", [(OLD_UID, 41), (UID, 999)])
async def test_an_old_emails_pixel_and_link_work_but_record_nothing(server, http, tokens, sink, campaign, send):
    """SEMANTICS 12: another campaign's (or an unknown send's) genuine token is answered
    as usual, the click going to that email's own link, and counted as foreign."""
    status, _, body = await get(http, f"{server.public_url}/o/{tokens.open_token(campaign, send)}.gif")
    assert (status, body) == (200, PIXEL_GIF)
    status, headers, _ = await get(http, f"{server.public_url}/c/"
                                         f"{tokens.click_token(campaign, send, 'https://old.example/a?b=1')}")
    assert (status, headers["Location"]) == (302, "https://old.example/a?b=1")
    assert sink.clicks == []
    assert (server.counters.opens, server.counters.clicks) == (0, 0)
    assert (server.counters.foreign, server.rejected) == (2, 2)


async def test_an_old_emails_unsubscribe_suppresses_its_address(server, http, tokens, sink):
    url = f"{server.public_url}/u/{tokens.unsubscribe_token(OLD_UID, 9, 'old@example.com')}"
    async with http.post(url, data=b"List-Unsubscribe=One-Click") as response:
        assert response.status == 200
        assert "You are unsubscribed" in await response.text()
    assert sink.unsubscribed == [] and sink.suppressed == ["old@example.com"]
    assert (server.counters.unsubscribes, server.counters.foreign) == (1, 1)


async def test_a_release_0_1_unsubscribe_of_an_unknown_campaign_says_so(server, http, tokens, sink):
    legacy = tokens._serializers["unsubscribe"].dumps([3, 9])  # release 0.1: integer campaign id, no address
    async with http.post(f"{server.public_url}/u/{legacy}", data=b"List-Unsubscribe=One-Click") as response:
        assert response.status == 410
        assert "older email" in await response.text()
    assert sink.unsubscribed == [] and sink.suppressed == []


@pytest.mark.parametrize("method,path", [
    ("GET", "/"), ("GET", "/admin"), ("POST", "/o/x.gif"), ("POST", "/c/x"), ("GET", "/o/x.png"), ("PUT", "/u/x"),
])
async def test_everything_else_is_404(server, http, method, path):
    async with http.request(method, server.public_url + path, allow_redirects=False) as response:
        assert response.status == 404


async def test_restart_on_the_same_port(server, http, tokens):
    port = server.port
    await server.stop()
    await server.start()
    assert server.port == port
    status, _, _ = await get(http, f"{server.public_url}/o/{tokens.open_token(UID, 41)}.gif")
    assert status == 200


async def test_head_request_is_a_machine_click(server, http, tokens, sink):
    """A link checker's HEAD sees a working link; no reader sends one, so it is recorded as a machine's."""
    async with http.head(f"{server.public_url}/c/{tokens.click_token(UID, 41, 'https://shop.example/')}",
                         allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (302, "https://shop.example/")
    assert sink.machine == [("click", 41, "head")]
    assert server.counters.machine == 1


async def test_port_in_use_is_a_clear_error(server, tokens, sink):
    from engine.delivery.errors import CannotListen

    second = TrackingServer(tokens, sink, port=server.port)
    with pytest.raises(CannotListen, match="--tracking-port"):
        await second.start()

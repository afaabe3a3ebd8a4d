"""The relay's own answers: what a forged token, a genuine click, an unsubscribe,
a proxy's forwarded address, the sync routes and TLS do; and scale-out mode,
where the relay records straight into the PostgreSQL event queue."""

from __future__ import annotations

import json
import subprocess

import aiohttp
import pytest

from engine.delivery.tracking_tokens import TrackingTokens
from engine.flow.fileformat import loads_flow
from engine.relay.app import RelayServer, RelaySink, build_relay_app, tls_context
from engine.relay.store import RelayStore
from engine.relay.sync import RelayClient, RelayError, RelaySync, check_relay_url
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine
from engine.store import suppression
from tests.integration.support import leads, query

from .support import BROWSER_UA, OFFER, two_link_flow

SECRET = b"t" * 64
SYNC = b"s" * 64
UID = "campaign-uid-AAAAAAAAAAAA"


@pytest.fixture
def tokens():
    return TrackingTokens(SECRET)


@pytest.fixture
async def relay_app(tmp_path, tokens):
    store = RelayStore(tmp_path / "relay" / "relay.db")
    server = RelayServer(build_relay_app(tokens, RelaySink(store), store=store, sync_secret=SYNC,
                                         trust_forwarded=True))
    await server.start()
    yield server, store
    await server.stop()
    store.close()


async def fetch(url: str, method: str = "GET", **kwargs) -> tuple[int, dict, bytes]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, url, allow_redirects=False, **kwargs) as response:
            return response.status, dict(response.headers), await response.read()


async def test_a_forged_token_gets_nothing_and_a_genuine_click_goes_to_its_own_link(relay_app, tokens):
    server, store = relay_app
    forger = TrackingTokens(b"f" * 64)
    status, headers, body = await fetch(f"{server.url}/o/{forger.open_token(UID, 7)}.gif")
    assert status == 200 and headers["Content-Type"] == "image/gif"  # a mail client never shows a broken image
    status, headers, _ = await fetch(f"{server.url}/c/{forger.click_token(UID, 7, 'https://evil.example/')}")
    assert status == 404 and "Location" not in headers
    await store.flush()
    assert store.after(0, 10) == []

    status, headers, _ = await fetch(f"{server.url}/c/{tokens.click_token(UID, 7, OFFER)}",
                                     headers={"User-Agent": BROWSER_UA})
    assert (status, headers["Location"]) == (302, OFFER)
    status, headers, _ = await fetch(f"{server.url}/c/{tokens.click_token(UID, 7, OFFER)}", method="HEAD")
    assert (status, headers["Location"]) == (302, OFFER)
    await store.flush()
    assert [row[1:4] + row[-1:] for row in store.after(0, 10)] == [("click", UID, "7", None), ("click", UID, "7", "head")]


async def test_behind_a_proxy_the_readers_address_decides(relay_app, tokens):
    server, store = relay_app
    pixel = f"{server.url}/o/{tokens.open_token(UID, 8)}.gif"
    await fetch(pixel, headers={"User-Agent": BROWSER_UA, "X-Forwarded-For": "198.51.100.7, 17.58.1.1"})
    await fetch(pixel, headers={"User-Agent": BROWSER_UA, "X-Forwarded-For": "17.58.1.1, 198.51.100.7"})
    await store.flush()
    assert [row[-1] for row in store.after(0, 10)] == ["privacy-proxy", None]  # the proxy's own entry is the last


async def test_the_sync_routes_need_the_sync_secret(relay_app, tokens):
    server, store = relay_app
    await fetch(f"{server.url}/o/{tokens.open_token(UID, 8)}.gif")
    assert (await fetch(f"{server.url}/sync/events"))[0] == 401
    assert (await fetch(f"{server.url}/sync/events", headers={"Authorization": f"Bearer {SECRET.decode()}"}))[0] == 401
    auth = {"Authorization": f"Bearer {SYNC.decode()}"}
    assert (await fetch(f"{server.url}/sync/events?after=-1", headers=auth))[0] == 400
    status, _, body = await fetch(f"{server.url}/sync/events?after=0&limit=10", headers=auth)
    answer = json.loads(body)
    assert status == 200 and answer["relay"] == store.uid and answer["waiting"] == 0 and len(answer["events"]) == 1
    status, _, body = await fetch(f"{server.url}/sync/status", headers=auth)
    assert json.loads(body)["waiting"] == 1  # pulled, not yet acknowledged by a pull after it


async def test_an_unsubscribe_at_the_relay_reaches_the_suppression_list(relay_app, tokens, db, tmp_path):
    server, store = relay_app
    engine = CampaignEngine.create(db, loads_flow(json.dumps(two_link_flow())), SystemClock(), delivery="real")
    engine.enroll(leads("ann@example.com"))
    (lead_id,), = query(db, "SELECT id FROM leads")
    link = f"{server.url}/u/{tokens.unsubscribe_token(engine.uid, lead_id, 'ann@example.com')}"
    status, _, body = await fetch(link)
    await store.flush()
    assert status == 200 and b"<form method='post'>" in body and store.after(0, 10) == []  # a GET changes nothing
    status, _, body = await fetch(link, method="POST", data={"List-Unsubscribe": "One-Click"})
    assert status == 200 and b"You are unsubscribed" in body

    sync = RelaySync(db, RelayClient(server.url, SYNC.decode()))
    try:
        assert await sync.sync_once() == 1
    finally:
        await sync.close()
    with db.session() as s:
        assert suppression.is_suppressed(s, "ann@example.com")
    assert query(db, "SELECT unsubscribed_at IS NOT NULL FROM leads") == [(1,)]


async def test_events_the_desktop_has_are_deleted_after_the_retention(tmp_path):
    store = RelayStore(tmp_path / "relay.db", retention_ms=1000)
    store.insert_many([("open", UID, "1", None, None, 5_000, None), ("open", UID, "2", None, None, 9_000, None)])
    store.acknowledge(2, 9_500)
    assert [row[0] for row in store.after(0, 10)] == [2]  # the first is older than the retention
    uid = store.uid
    store.close()
    again = RelayStore(tmp_path / "relay.db")
    assert again.uid == uid and again.status()["acknowledged"] == 2
    again.close()


def test_the_desktop_refuses_to_send_its_sync_secret_in_clear():
    with pytest.raises(RelayError, match="https://"):
        check_relay_url("http://track.example.com")
    assert check_relay_url("https://track.example.com/") == "https://track.example.com"


async def test_the_relay_serves_https_with_its_own_certificate(tmp_path, tokens, db):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    store = RelayStore(tmp_path / "relay.db")
    server = RelayServer(build_relay_app(tokens, RelaySink(store), store=store, sync_secret=SYNC),
                         tls=tls_context(cert, key))
    await server.start()
    try:
        assert server.url.startswith("https://")
        sync = RelaySync(db, RelayClient(server.url, SYNC.decode(), ca_file=str(cert)))
        try:
            assert await sync.sync_once() == 0
        finally:
            await sync.close()
        assert sync.state.reachable and sync.state.error is None
    finally:
        await server.stop()
        store.close()


async def test_scale_out_the_relay_writes_straight_into_the_postgresql_event_queue(scale_db, tokens):
    from engine.relay.direct import direct_sink

    engine = CampaignEngine.create(scale_db, loads_flow(json.dumps(two_link_flow())), SystemClock(),
                                   delivery="real", settings={"distributed": True, "shards": 4})
    engine.enroll(leads("ann@example.com"))
    engine.process_until()
    (send_id,), = query(scale_db, "SELECT id FROM sends WHERE node = 'e1'")
    db, sink = direct_sink(scale_db.url)
    server = RelayServer(build_relay_app(tokens, sink))
    await server.start()
    try:
        status, _, _ = await fetch(f"{server.url}/o/{tokens.open_token(engine.uid, send_id)}.gif",
                                   headers={"User-Agent": "Mozilla/5.0"})
        assert status == 200
        assert (await fetch(f"{server.url}/sync/events"))[0] == 404  # nothing to sync in this mode
    finally:
        await server.stop()
        db.dispose()
    assert query(scale_db, "SELECT type, machine, state FROM events WHERE type = 'open'") == [("open", True, "pending")]
    assert query(scale_db, "SELECT COUNT(*) FROM procrastinate_jobs WHERE task_name = 'mailbranch.wake_shard'"
                           " AND args->>'kind' = 'events'") == [(1,)]

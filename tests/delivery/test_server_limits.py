"""The tracking server and control API under slow, idle and malformed clients.

A flood of slow-header connections must not stop real opens and clicks,
nor fill the log; a wrong ``Authorization`` header of any bytes is a 403.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sys
from pathlib import Path

import aiohttp
import pytest

from engine.control.server import ControlServer
from engine.control.service import EngineService
from engine.delivery.http_guard import ServerLimits
from engine.delivery.smtp import SmtpSettings
from engine.delivery.tracking_server import PIXEL_GIF, TrackingServer
from engine.runtime.runner import RunnerSettings
from engine.store.database import Database

CAMPAIGN = "c-limits"
HANG_GUARD = 60  # seconds: only keeps a broken server from hanging the suite


class Sink:
    """Accepts every open and click; ``hold`` makes opens wait (a busy server)."""

    def __init__(self) -> None:
        self.opens: list[int] = []
        self.clicks: list[str] = []
        self.hold: asyncio.Event | None = None
        self.waiting = 0

    async def record_open(self, campaign, send_id, at):
        if self.hold is not None:
            self.waiting += 1
            await self.hold.wait()
        self.opens.append(send_id)
        return True

    async def record_click(self, campaign, send_id, url, at):
        self.clicks.append(url)
        return True

    async def unsubscribe(self, campaign, lead_id, email=None):
        return "unsubscribed"


@pytest.fixture
def desktop_file_limit():
    """The 1,024 open files a desktop session usually starts with (restored afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip("the hard open-file limit is too low to open 2,000 connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 1024), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _shed(server: TrackingServer) -> int:
    """Slow connections the server has closed so far (to make room, or for taking too long)."""
    return server.rejections.counts.get("evicted-slow", 0) + server.rejections.counts.get("slow-headers", 0)


def _server_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.INFO]


@pytest.mark.slow
async def test_real_opens_and_clicks_are_answered_during_a_flood_of_2000_slow_header_connections(
        tokens, desktop_file_limit, caplog):
    caplog.set_level(logging.INFO)
    sink = Sink()
    server = TrackingServer(tokens, sink, limits=ServerLimits(header_timeout=2.0))
    await server.start()
    flood = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("slow_clients.py")), str(server.port), "2000",
        str(HANG_GUARD), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(HANG_GUARD):
            assert (await flood.stdout.readline()).strip() == b"ready"
            shed_before = _shed(server)
            connector = aiohttp.TCPConnector(force_close=True)  # a new connection per request, like mail clients
            async with aiohttp.ClientSession(connector=connector) as http:
                for send_id in range(1, 31):
                    url = f"https://shop.example/item/{send_id}"
                    async with http.get(f"{server.public_url}/o/{tokens.open_token(CAMPAIGN, send_id)}.gif") as r:
                        assert (r.status, await r.read()) == (200, PIXEL_GIF)
                    async with http.get(f"{server.public_url}/c/{tokens.click_token(CAMPAIGN, send_id, url)}",
                                        allow_redirects=False) as r:
                        assert (r.status, r.headers["Location"]) == (302, url)
                    await asyncio.sleep(0.1)  # spread over the flood's lifetime
            shed_during = _shed(server) - shed_before
            flood.stdin.close()  # the flood stops only now: every request above met it
            stats = json.loads((await flood.stdout.readline()).decode())
            await flood.wait()
    finally:
        if flood.returncode is None:
            flood.kill()
            await flood.wait()
        await server.stop()

    assert sink.opens == list(range(1, 31)) and len(sink.clicks) == 30
    # The flood was really there, and the server shed it: the slow connections were closed, over and over.
    assert stats["opened"] >= 2000 and stats["closed_by_server"] >= 1000
    assert _shed(server) >= 1000 and shed_during > 0
    lines = _server_lines(caplog)
    assert all(r.exc_info is None for r in lines), "no tracebacks"
    text = "\n".join(r.getMessage() for r in lines)
    assert len(lines) <= 12 and len(text) < 4000, text
    assert "closed a connection still sending its headers" in text


async def test_a_connection_that_trickles_its_headers_is_closed_after_the_header_timeout(tokens):
    server = TrackingServer(tokens, Sink(), limits=ServerLimits(header_timeout=1.0))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /o/x.gif HTTP/1.1\r\nHost: a\r\n")

        async def trickle() -> None:
            for _ in range(100):
                await asyncio.sleep(0.2)
                writer.write(b"X-Slow: 1\r\n")

        trickling = asyncio.create_task(trickle())
        async with asyncio.timeout(HANG_GUARD):
            assert await reader.read() == b""  # closed by the server, without an answer
        assert not trickling.done(), "closed while the client was still sending"
        trickling.cancel()
        writer.close()
    finally:
        await server.stop()
    assert server.rejections.counts == {"slow-headers": 1}


async def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(tokens):
    sink = Sink()
    server = TrackingServer(tokens, sink, limits=ServerLimits(keepalive_timeout=1.0))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        token = tokens.open_token(CAMPAIGN, 7)
        writer.write(f"GET /o/{token}.gif HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        async with asyncio.timeout(HANG_GUARD):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" not in head
            assert await reader.readexactly(len(PIXEL_GIF)) == PIXEL_GIF
            assert await reader.read() == b""  # the server hung up on the idle connection
        writer.close()
    finally:
        await server.stop()
    assert sink.opens == [7]


async def test_over_the_cap_a_new_connection_is_closed_at_once_and_the_busy_ones_still_finish(tokens, caplog):
    caplog.set_level(logging.INFO)
    sink = Sink()
    sink.hold = asyncio.Event()
    server = TrackingServer(tokens, sink, limits=ServerLimits(max_connections=16))
    await server.start()
    try:
        async with asyncio.timeout(HANG_GUARD), aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True, limit=0)) as http:
            async def pixel(send_id: int) -> int:
                async with http.get(f"{server.public_url}/o/{tokens.open_token(CAMPAIGN, send_id)}.gif") as r:
                    await r.read()
                    return r.status

            busy = [asyncio.create_task(pixel(i)) for i in range(16)]
            while sink.waiting < 16:
                await asyncio.sleep(0.01)
            # All 16 slots serve requests that wait in the sink: the 17th is turned away at once.
            with pytest.raises(aiohttp.ClientError):
                await pixel(99)
            sink.hold.set()
            assert await asyncio.gather(*busy) == [200] * 16
    finally:
        await server.stop()
    assert server.rejections.counts.get("over-cap", 0) >= 1
    assert sorted(sink.opens) == list(range(16))
    assert any("all 16 connections are busy" in r.getMessage() for r in caplog.records)


@pytest.fixture
async def control(tmp_path):
    db = Database(tmp_path / "engine.db")
    service = EngineService(db, RunnerSettings(SmtpSettings.from_url("sandbox")))
    server = ControlServer(service, "s3cret-for-this-launch-only-0123456789")
    await server.start()
    yield server
    await server.stop()
    db.dispose()


@pytest.mark.parametrize("value", [
    "Bearer s3cret-for-this-launch-only-0123456789é".encode(),
    b"Bearer \xe9\xff\xfe",
    "Bearer сек".encode(),
    b"",
])
async def test_any_wrong_authorization_header_gets_403_and_no_traceback(control, value, caplog):
    caplog.set_level(logging.DEBUG)
    async with asyncio.timeout(HANG_GUARD):
        reader, writer = await asyncio.open_connection("127.0.0.1", control.port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: " + value + b"\r\n\r\n")
        response = await reader.read()
        writer.close()
    assert response.startswith(b"HTTP/1.1 403"), response[:200]
    assert b'"not allowed"' in response
    assert not any(r.exc_info for r in caplog.records)
    assert any("refused a request without the right secret" in r.getMessage() for r in caplog.records)


def test_each_kind_of_rejection_is_one_line_then_a_count_at_most_once_a_minute(caplog):
    from engine.delivery.http_guard import RejectionLog

    now = [0.0]
    rejections = RejectionLog(logging.getLogger("test.rejections"), "tracking server", clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.rejections"):
        for second in range(150):
            now[0] = float(second)
            for _ in range(100):
                rejections.note("slow-headers", "closed a slow connection")
            rejections.note("over-cap", "closed a new connection at once")
        rejections.flush()
    lines = [r.getMessage() for r in caplog.records]
    assert rejections.counts == {"slow-headers": 15_000, "over-cap": 150}
    assert lines[0] == ("tracking server: closed a slow connection (more of these are counted and logged at most "
                        "once a minute)")
    assert "tracking server: closed a slow connection, 6000 more times in the last 60 s" in lines
    assert len(lines) == 8  # per kind: the first, at 60 s, at 120 s, and the rest when the server stops
    assert sum(int(line.split(", ")[1].split()[0]) for line in lines if "slow connection," in line) == 14_999


async def test_a_database_outage_logs_one_traceback_not_one_per_request(tokens, caplog):
    class BrokenSink(Sink):
        async def record_open(self, campaign, send_id, at):
            raise RuntimeError("database is locked")

    caplog.set_level(logging.INFO)
    server = TrackingServer(tokens, BrokenSink())
    await server.start()
    try:
        async with asyncio.timeout(HANG_GUARD), aiohttp.ClientSession() as http:
            for send_id in range(200):
                async with http.get(f"{server.public_url}/o/{tokens.open_token(CAMPAIGN, send_id)}.gif") as r:
                    assert (r.status, await r.read()) == (200, PIXEL_GIF)  # the reader never sees our outage
    finally:
        await server.stop()
    assert server.counters.sink_errors == 200
    failures = [r for r in caplog.records if "tracking sink failed" in r.getMessage()]
    assert [bool(r.exc_info) for r in failures] == [True, False]  # the first with its traceback, then a count
    assert "199 more times" in failures[1].getMessage()


async def test_a_kept_alive_connection_that_trickles_its_next_request_is_closed_after_the_keepalive_timeout(tokens):
    server = TrackingServer(tokens, Sink(), limits=ServerLimits(keepalive_timeout=1.0))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(f"GET /o/{tokens.open_token(CAMPAIGN, 7)}.gif HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        async with asyncio.timeout(HANG_GUARD):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
            await reader.readexactly(len(PIXEL_GIF))
            writer.write(b"GET /o/x.gif HTTP/1.1\r\n")

            async def trickle() -> None:
                for _ in range(100):
                    await asyncio.sleep(0.2)
                    writer.write(b"X-Slow: 1\r\n")

            trickling = asyncio.create_task(trickle())
            assert await reader.read() == b""  # trickled bytes did not keep it open
            assert not trickling.done()
            trickling.cancel()
        writer.close()
    finally:
        await server.stop()

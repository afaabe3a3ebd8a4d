"""A reader opens and clicks in a real headless Chromium, through the public relay:
the pixel and the redirect come from the relay, the desktop pulls them, and the
YES path of the "opened?" condition runs for that reader."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import web

from engine.flow.fileformat import loads_flow
from engine.relay.secrets import installation_sync_secret
from engine.relay.sync import RelayClient, RelaySync
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine
from tests.integration.support import leads, mailbox, query, subjects_by_recipient, until

from .support import relay_runner, two_link_flow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


class Shop:
    """The shop's pages and a bare webmail view of one captured message, on loopback."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.mail_html = ""
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def page(self, request: web.Request) -> web.Response:
        self.hits.append(request.path_qs)
        return web.Response(text=f"<html><body><h1>{request.path}</h1></body></html>", content_type="text/html")

    async def webmail(self, request: web.Request) -> web.Response:
        return web.Response(text=self.mail_html, content_type="text/html")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/offer", self.page)
        app.router.add_get("/shoes", self.page)
        app.router.add_get("/webmail", self.webmail)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_a_chromium_open_and_click_through_the_relay_run_the_yes_path(db, relay):
    from playwright.async_api import async_playwright

    shop = Shop()
    await shop.start()
    offer = f"http://127.0.0.1:{shop.port}/offer"
    flow = two_link_flow(wait="30s", offer=offer, shoes=f"http://127.0.0.1:{shop.port}/shoes")
    engine = CampaignEngine.create(db, loads_flow(json.dumps(flow)), SystemClock(), delivery="real")
    engine.enroll(leads("erin@example.com", "finn@example.com"))
    runner = relay_runner(db, [engine], relay.url)
    await runner.start()
    sync = RelaySync(db, RelayClient(relay.url, installation_sync_secret().decode()), sink=runner.sink)
    stop = asyncio.Event()
    puller = asyncio.create_task(sync.run(0.1, stop))
    task = asyncio.create_task(runner.run(until_finished=False))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            await until(lambda: any(m.subject == "Hi Erin" for m in mailbox(db)), what="e1 for Erin")
            shop.mail_html = next(m for m in mailbox(db) if m.subject == "Hi Erin").body("html")
            page = await browser.new_page()
            pixel: list[int] = []
            page.on("response", lambda r: pixel.append(r.status) if "/o/" in r.url else None)
            await page.goto(f"http://127.0.0.1:{shop.port}/webmail", wait_until="load")
            await until(lambda: pixel, what="Chromium to load the pixel from the relay")
            async with page.expect_navigation(url=offer):
                await page.click(f"a[href^='{relay.url}/c/']")
            assert await page.text_content("h1") == "/offer"
            await until(lambda: "Thanks for reading" in subjects_by_recipient(db).get("erin@example.com", []),
                        what="Erin's open to send e2")
        finally:
            await browser.close()
            stop.set()
            await puller
            runner.request_stop()
            await asyncio.wait_for(task, 10)
            await runner.stop()
            await shop.stop()
    assert pixel == [200] and shop.hits == ["/offer"]
    events = query(db, "SELECT type, url, machine, source FROM events WHERE type IN ('open', 'click') ORDER BY at, id")
    assert [(t, u, bool(m), s) for t, u, m, s in events] == [("open", None, False, "tracking"),
                                                             ("click", offer, False, "tracking")]
    assert "Thanks for reading" not in subjects_by_recipient(db).get("finn@example.com", [])

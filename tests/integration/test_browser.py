"""A reader opens a captured campaign email in headless Chromium: the pixel
loads, the tracked link is followed to the real offer page, and the campaign's
YES path runs for that reader only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from .support import flow_json, mailbox, make_runner, query, start_campaign, subjects_by_recipient, until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                     "(apt-get install chromium)"),
]


class WebSite:
    """The shop's offer page and a bare webmail view of one captured message, on loopback."""

    def __init__(self) -> None:
        self.offer_hits: list[str] = []
        self.mail_html = ""
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def offer(self, request: web.Request) -> web.Response:
        self.offer_hits.append(request.path_qs)
        return web.Response(text="<html><head><title>Offer</title></head><body><h1>The spring offer</h1>"
                                 "</body></html>", content_type="text/html")

    async def webmail(self, request: web.Request) -> web.Response:
        return web.Response(text=self.mail_html, content_type="text/html")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/offer", self.offer)
        app.router.add_get("/webmail", self.webmail)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_open_and_click_in_headless_chromium_run_the_yes_path(db):
    from playwright.async_api import async_playwright

    site = WebSite()
    await site.start()
    offer_url = f"http://127.0.0.1:{site.port}/offer?utm_source=mailbranch"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                                   headless=True)
        engine = start_campaign(db, flow_json(link=offer_url, wait="5s"), ["ann@example.com", "bob@example.com"])
        runner = make_runner(db, [engine])
        await runner.start()
        task = asyncio.create_task(runner.run())
        try:
            await until(lambda: any("ann@example.com" in m.rcpt_tos for m in mailbox(db)), what="e1 for ann")
            message = next(m for m in mailbox(db) if "ann@example.com" in m.rcpt_tos)
            assert message.subject == "Hi Ann"
            site.mail_html = message.body("html")
            assert offer_url not in site.mail_html, "the link must be rewritten to a tracked redirect"

            page = await browser.new_page()
            pixel_answers: list[int] = []
            page.on("response", lambda r: pixel_answers.append(r.status) if "/o/" in r.url else None)
            await page.goto(f"http://127.0.0.1:{site.port}/webmail", wait_until="load")
            await until(lambda: pixel_answers, what="the browser to load the tracking pixel")
            assert pixel_answers == [200]

            async with page.expect_navigation(url=offer_url):
                await page.click(f"a[href^='{runner.tracking.public_url}/c/']")
            assert page.url == offer_url
            assert await page.text_content("h1") == "The spring offer"
            assert site.offer_hits == ["/offer?utm_source=mailbranch"]

            await asyncio.wait_for(task, timeout=20)
        finally:
            task.cancel()
            await runner.stop()
            await browser.close()
            await site.stop()

    counters = runner.tracking.counters
    assert (counters.opens, counters.clicks, counters.rejected) == (1, 1, 0)
    ann_e1 = query(db, "SELECT s.id, s.opened_at, s.clicked_at, s.clicked_urls FROM sends s JOIN leads l"
                       " ON l.id = s.lead_id WHERE l.email = 'ann@example.com' AND s.node = 'e1'")
    (send_id, opened_at, clicked_at, clicked_urls), = ann_e1
    assert opened_at is not None and clicked_at is not None
    assert offer_url in clicked_urls
    events = query(db, "SELECT type, url, source, state FROM events WHERE send_id = ? AND type IN ('open', 'click')"
                       " ORDER BY id", (send_id,))
    assert events == [("open", None, "tracking", "handled"), ("click", offer_url, "tracking", "handled")]
    bob_e1 = query(db, "SELECT s.opened_at FROM sends s JOIN leads l ON l.id = s.lead_id"
                       " WHERE l.email = 'bob@example.com' AND s.node = 'e1'")
    assert bob_e1 == [(None,)]
    # Parallel mode: Ann's open sends e2 at once and her NO token still ends with e3.
    assert subjects_by_recipient(db) == {
        "ann@example.com": ["Did you miss it?", "Hi Ann", "Thanks for reading"],
        "bob@example.com": ["Did you miss it?", "Hi Bob"],
    }
    assert engine.complete_at is not None

"""The mailbox view: the list, the preview as the lead sees it, the pixel and the tracked links.

Canned messages point at a small local tracking stand-in; the last test runs
against a real ``mailbranch serve`` and checks the click reaches the figures.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from app.mailbox_view import SUBJECT, TO, MailboxView  # noqa: E402
from tests.qt_helpers import shown_and_refreshed  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


class TrackingStandIn(BaseHTTPRequestHandler):
    """Answers like the tracking server: a GIF for the pixel, a redirect for a click."""

    requests: list[str] = []

    def do_GET(self):  # noqa: N802
        type(self).requests.append(self.path)
        if self.path.startswith("/o/"):
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.send_header("Content-Length", str(len(GIF)))
            self.end_headers()
            self.wfile.write(GIF)
        elif self.path.startswith("/c/"):
            self.send_response(302)
            self.send_header("Location", "https://shop.example/offer")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def tracking():
    TrackingStandIn.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), TrackingStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", TrackingStandIn.requests
    server.shutdown()
    server.server_close()


def canned_message(mid, base, to, subject):
    html = (f"<p>Hi {to.split('@')[0].title()},</p><p>Our spring offer is live: "
            f"<a href=\"{base}/c/tok{mid}\">see it</a>.</p>"
            f"<p style=\"color:#777\"><a href=\"{base}/u/tok{mid}\">Unsubscribe</a></p>"
            f"<img src=\"{base}/o/tok{mid}.gif\" width=\"1\" height=\"1\" alt=\"\">")
    headers = {"From": "Spring Shop <news@shop.example>", "To": to, "Subject": subject,
               "Message-ID": f"<m{mid}@shop.example>",
               "List-Unsubscribe": f"<{base}/u/tok{mid}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return {"id": mid, "subject": subject, "to": [to], "from": "news@shop.example",
            "message_id": f"<m{mid}@shop.example>", "received_at": 1_700_000_000_000 + mid * 60_000,
            "headers": headers, "html": html,
            "text": f"Hi {to.split('@')[0].title()},\n\nOur spring offer is live: see it ({base}/c/tok{mid})."}


class FakeClient:
    def __init__(self, base: str) -> None:
        self.messages = [canned_message(1, base, "ana@example.com", "Hi Ana, our spring offer"),
                         canned_message(2, base, "ben@example.com", "Hi Ben, our spring offer"),
                         canned_message(3, base, "ana@example.com", "Thanks for your interest")]

    async def mailbox(self, limit=100, offset=0):
        # Messages 1 and 2 come from a simulation, 3 from a real run (as the engine answers).
        runs = {1: (4, True), 2: (4, True), 3: (5, False)}
        return [{**{k: m[k] for k in ("id", "received_at", "to", "from", "subject", "message_id")},
                 "campaign": runs.get(m["id"], (None, None))[0], "campaign_name": "Spring offer",
                 "simulated": runs.get(m["id"], (None, None))[1]}
                for m in reversed(self.messages)]

    async def message(self, message_id):
        return next(m for m in self.messages if m["id"] == message_id)


#: Closed loops stay referenced: a qasync timer still pending when its loop closes fires later
#: on the loop's timer object, which must then still exist (else Qt calls into a freed object).


def settle(loop, view):
    """Let the view's background work (message load, image fetches, link requests) finish."""
    async def wait():
        for _ in range(200):
            await asyncio.sleep(0.01)
            if not view._tasks and not view.browser._pending:
                return
        raise AssertionError("the mailbox view kept working")
    loop.run_until_complete(wait())


@pytest.fixture
def view(qtbot, loop, tracking):
    base, _requests = tracking
    widget = MailboxView(FakeClient(base))
    return shown_and_refreshed(qtbot, loop, widget, 900, 760)


def click_link(view, text):
    """Click on the words ``text`` in the preview, with the mouse."""
    doc = view.browser.document()
    cursor = doc.find(text)
    assert not cursor.isNull(), f"{text!r} is not in the preview"
    cursor.setPosition(cursor.selectionStart() + 1)
    point = view.browser.cursorRect(cursor).center()
    QTest.mouseClick(view.browser.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def test_list_shows_captured_messages_newest_first(view):
    assert view.table.rowCount() == 3
    subjects = [view.table.item(r, SUBJECT).text() for r in range(3)]
    assert subjects == ["Thanks for your interest", "Hi Ben, our spring offer", "Hi Ana, our spring offer"]
    assert view.table.item(1, TO).text() == "ben@example.com"
    assert "3 messages" in view.count_label.text()


def test_campaign_column_and_the_simulation_filter(view):
    from app.mailbox_view import CAMPAIGN, RUN

    rows = {view.table.item(r, SUBJECT).text(): r for r in range(3)}
    thanks, ben = rows["Thanks for your interest"], rows["Hi Ben, our spring offer"]
    assert view.table.item(thanks, CAMPAIGN).text() == "Spring offer · 5"
    assert (view.table.item(thanks, RUN).text(), view.table.item(ben, RUN).text()) == ("Real run", "Simulation")
    view.filter_box.setCurrentText("Real runs only")
    assert view.visible_ids() == [3]
    assert view.count_label.text() == "1 of 3 messages captured by the sandbox"
    view.filter_box.setCurrentText("Simulations only")
    assert view.visible_ids() == [2, 1]
    view.filter_box.setCurrentText("All messages")
    assert view.visible_ids() == [3, 2, 1]


def test_the_list_shows_more_than_a_few_rows(view, qtbot):
    """At a laptop's height the list keeps room for eight messages above the preview."""
    view.resize(1100, 700)
    qtbot.wait(10)
    row = view.table.verticalHeader().defaultSectionSize()
    assert view.table.height() >= 8 * row


def test_selecting_a_message_shows_it_and_loads_the_pixel(view, loop, tracking):
    _base, requests = tracking
    view.table.selectRow(1)  # Ben's message
    settle(loop, view)
    assert view.header_labels["To"].text() == "ben@example.com"
    assert view.header_labels["Subject"].text() == "Hi Ben, our spring offer"
    assert view.header_labels["Message-ID"].text() == "<m2@shop.example>"
    assert "/u/tok2" in view.header_labels["List-Unsubscribe"].text()
    assert "Our spring offer is live" in view.browser.toPlainText()
    assert requests == ["/o/tok2.gif"], "showing the message fetched its tracking pixel, once"
    assert not view.browser._images[view.browser.fetched[0]].isNull(), "the GIF was decoded"


def test_clicking_a_link_requests_the_tracking_url_and_stays(view, loop, tracking):
    _base, requests = tracking
    view.select_message(1)
    settle(loop, view)
    html_before = view.browser.toHtml()
    click_link(view, "see it")
    settle(loop, view)
    assert "/c/tok1" in requests
    assert view.last_landing == "https://shop.example/offer"
    assert "https://shop.example/offer" in view.status.text()
    assert view.browser.toHtml() == html_before, "the preview did not navigate away"


def test_text_toggle_shows_the_plain_part(view, loop):
    view.select_message(3)
    settle(loop, view)
    view.text_button.click()
    assert view.browser.toPlainText().startswith("Hi Ana,\n\nOur spring offer is live: see it (")
    view.html_button.click()
    assert "see it" in view.browser.toPlainText() and "/c/tok3" not in view.browser.toPlainText()
    assert view.link_urls()[0].endswith("/c/tok3")


def test_refresh_keeps_the_selection(view, loop):
    view.select_message(2)
    settle(loop, view)
    view.client.messages.append(canned_message(4, "http://127.0.0.1:9", "chloe@example.com", "New"))
    loop.run_until_complete(view.refresh())
    assert view.table.rowCount() == 4
    assert view.selected_id() == 2
    assert view.header_labels["To"].text() == "ben@example.com"


def test_unreachable_tracking_server_is_said_plainly(view, loop):
    landing = loop.run_until_complete(view.follow_link("http://127.0.0.1:9/c/nothing"))
    assert landing is None
    assert "Could not reach http://127.0.0.1:9/c/nothing" in view.status.text()


def test_screenshot(view, loop, qtbot):
    view.select_message(1)
    settle(loop, view)
    qtbot.wait(50)
    ARTIFACTS.mkdir(exist_ok=True)
    assert view.grab().save(str(ARTIFACTS / "app-mailbox.png"))


# -- against the real engine ---------------------------------------------------------
@pytest.fixture
def engine(tmp_path):
    """``mailbranch serve`` as the app starts it: its own process, a fresh secret, any free ports."""
    secret = secrets.token_urlsafe(24)
    env = {**os.environ, "MAILBRANCH_CONTROL_SECRET": secret, "MAILBRANCH_HOME": str(tmp_path / "home")}
    stderr = open(tmp_path / "engine.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--db", str(tmp_path / "x.db"),
                             "--tracking-port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=stderr, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("MAILBRANCH-CONTROL") or not line and proc.poll() is not None:
                break
        words = line.split()
        assert words[:1] == ["MAILBRANCH-CONTROL"], \
            f"the engine did not start: {line!r}\n{(tmp_path / 'engine.log').read_text()}"
        yield int(words[1]), secret
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        stderr.close()


def test_click_in_the_preview_is_recorded_by_the_real_engine(qtbot, loop, engine):
    from app.client import EngineClient

    port, secret = engine
    client = EngineClient(port, secret)
    flow = json.loads((ROOT / "resources" / "flows" / "sample.json").read_text())
    leads = [{"key": "ana", "email": "ana@example.com", "fields": {"first_name": "Ana"}},
             {"key": "ben", "email": "ben@example.com", "fields": {"first_name": "Ben"}}]

    async def until(check, what, seconds=20.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    async def mailbox_has_two():
        return len(await client.mailbox()) >= 2

    # Speed 1: campaign time runs as real time, so the click lands while the condition listens.
    campaign = loop.run_until_complete(client.start_campaign(flow, leads, simulated=True, speed=1.0))
    loop.run_until_complete(until(mailbox_has_two, "the sandbox to capture both first emails"))

    view = MailboxView(client)
    qtbot.addWidget(view)
    view.resize(900, 760)
    view.show()
    qtbot.waitExposed(view)
    loop.run_until_complete(view.refresh())
    assert view.table.rowCount() == 2
    row = next(r for r in range(2) if view.table.item(r, TO).text() == "ana@example.com")
    view.table.selectRow(row)
    settle(loop, view)
    assert view.header_labels["Subject"].text() == "Hi Ana, our spring offer"
    assert view.header_labels["List-Unsubscribe"].text(), "the sandbox kept the List-Unsubscribe header"

    async def e1(field):
        return (await client.figures(campaign))["nodes"]["e1"][field]

    loop.run_until_complete(until(lambda: e1("opened"), "the pixel to record Ana's open"))
    assert view.link_urls()[0].startswith("http://127.0.0.1:"), "the link goes through the tracking server"
    click_link(view, "see it")
    settle(loop, view)
    assert view.last_landing == "https://shop.example/offer"
    assert loop.run_until_complete(until(lambda: e1("clicked"), "the click to show in the figures")) == 1
    assert loop.run_until_complete(e1("opened")) == 1
    loop.run_until_complete(client.shutdown())
    loop.run_until_complete(client.close())

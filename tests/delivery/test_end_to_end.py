"""The delivery pieces together: import, render, send to the sandbox, read the
mailbox, then follow the pixel, the link and the unsubscribe as a reader would."""

from __future__ import annotations

import re
from dataclasses import replace

import aiohttp

from engine.delivery.mailbox import count_by_message_id, list_messages
from engine.delivery.render import EmailContent, render_email
from engine.delivery.smtp import Sender, SmtpSettings
from engine.delivery.tracked_links import TrackingUrls
from engine.delivery.tracking_server import TrackingServer
from engine.leads.importer import import_leads

from .test_tracking_server import UID, RecordingSink


async def test_campaign_email_round_trip(db, sandbox, tokens):
    leads = import_leads(b"\xef\xbb\xbfemail;first_name\r\nann@example.com;Ann\r\nbob@example.com;\r\n").leads
    sink = RecordingSink()
    content = EmailContent(
        'Hi {{ first_name | default("there") }}',
        '<html><body><p>Hello {{ first_name }}, <a href="https://shop.example/offer">see the offer</a></p></body></html>',
    )
    async with TrackingServer(tokens, sink, clock=lambda: 5) as tracking:
        settings = replace(SmtpSettings.from_url("sandbox"), port=sandbox.port, timeout=5)
        async with Sender(settings) as sender:
            for send_id, lead in zip((41, 42), leads, strict=True):
                urls = TrackingUrls(tracking.public_url, tokens, UID, send_id, 9, lead.email)
                email = render_email(content, lead.fields, email=lead.email, sender="Shop <shop@example.com>",
                                     urls=urls, token_id=send_id, node_id="e1")
                assert (await sender.send(email.message)).ok

        with db.session() as session:
            bob, ann = list_messages(session)
            assert (ann.subject, bob.subject) == ("Hi Ann", "Hi there")
            assert count_by_message_id(session) == {f"<t41.e1.{UID}@example.com>": 1, f"<t42.e1.{UID}@example.com>": 1}
            html = ann.body("html")
            text = ann.body("plain")
            unsubscribe = str(ann.email()["List-Unsubscribe"]).strip().strip("<>")

        assert "see the offer (https://shop.example/offer)" in text
        pixel = re.search(r'<img src="([^"]+)"', html).group(1)
        link = re.search(r'<a href="([^"]+/c/[^"]+)"', html).group(1)
        async with aiohttp.ClientSession() as http:
            async with http.get(pixel) as response:
                assert response.status == 200
            async with http.get(link, allow_redirects=False) as response:  # no network to follow it into
                assert (response.status, response.headers["Location"]) == (302, "https://shop.example/offer")
            async with http.post(unsubscribe, data=b"List-Unsubscribe=One-Click") as response:
                assert response.status == 200
    assert sink.opens == [(UID, 41, 5)]
    assert sink.clicks == [(UID, 41, "https://shop.example/offer", 5)]
    assert sink.unsubscribed == [(UID, 9, "ann@example.com")]

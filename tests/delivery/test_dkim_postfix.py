"""Issue 11, item 2, after a real Postfix: a signed message Postfix relays and delivers
(adding Received, Return-Path and Delivered-To on the way) still verifies with
dkimpy against the published record, and carries the VERP Return-Path."""

from __future__ import annotations

import json

from engine.delivery.compose import Outgoing
from engine.delivery.dkim_signing import DkimSigner, load_key, new_key, verify
from engine.delivery.smtp import Sender, SmtpSettings
from engine.delivery.tracked_links import TrackingUrls
from engine.delivery.tracking_tokens import TrackingTokens
from engine.flow.fileformat import loads_flow

UID = "AbCdEfGhIjKlMnOpQrStUv"


async def test_a_signed_message_verifies_after_postfix_delivers_it(postfix_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path))
    new_key("spring-shop.example", "mb1")
    flow = loads_flow(json.dumps({
        "format": "mailbranch.flow/1", "name": "Spring", "theme": {"address": "12 Market Street, Springfield"},
        "sender": {"name": "Spring Shop, Inc.", "address": "news@spring-shop.example",
                   "return_path_domain": postfix_server.bounce_domain},
        "nodes": [{"id": "start", "type": "start"},
                  {"id": "e1", "type": "email", "subject": "Zoë, " + "a long subject that folds " * 6,
                   "html": "<p>Hello {{ first_name }} <a href='https://shop.example/a'>offer</a></p>\n" * 40},
                  {"id": "end", "type": "end"}],
        "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "end"}]}))
    tokens = TrackingTokens("s" * 64)
    to = "ann@example.com"
    urls = TrackingUrls("https://t.spring-shop.example", tokens, UID, 41, 3, to)
    envelope, raw = Outgoing.for_node(flow, flow.node("e1")).build(
        {"first_name": "Ann"}, to=to, urls=urls, message_id="<t1.e1.dkim-postfix@spring-shop.example>",
        tokens=tokens, send_id=41, signer=DkimSigner())
    async with Sender(SmtpSettings.from_url(postfix_server.smtp_url)) as sender:
        outcome = await sender.send_raw(envelope, [to], raw)
    assert outcome.ok, outcome.error
    delivered = postfix_server.wait_for(
        "inbox", lambda m: m.get("Message-ID") == "<t1.e1.dkim-postfix@spring-shop.example>")
    assert delivered["Received"] and delivered["Return-Path"] == f"<{envelope}>"
    files = [p for sub in ("new", "cur") for p in (postfix_server.maildir("inbox") / sub).glob("*")]
    stored = next(p.read_bytes() for p in files if b"dkim-postfix@spring-shop.example" in p.read_bytes())
    key = load_key("spring-shop.example")
    stored = stored.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # the maildir keeps LF line ends
    assert verify(stored, {key.record_name: key.record_value()})
    assert not verify(stored.replace(b"Hello Ann", b"Hello Bob", 1), {key.record_name: key.record_value()})

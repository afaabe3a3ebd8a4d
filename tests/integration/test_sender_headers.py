"""Issue 11 through the real outbox: a campaign with a sender of its own goes out from
it, with a VERP Return-Path at the Return-Path domain, Reply-To, List-Id,
Feedback-ID, both List-Unsubscribe targets, Message-IDs at the sender's domain,
and a DKIM signature dkimpy verifies against the published record."""

from __future__ import annotations

import asyncio
from email import message_from_bytes, policy

from engine.delivery.dkim_signing import load_key, new_key, verify
from engine.delivery.verp import parse_verp
from engine.run.engine import CampaignEngine
from engine.runtime.runner import CampaignRunner

from .support import mailbox, make_runner, one_email_json, start_campaign, until


async def send_to_two(db, data: dict) -> tuple[CampaignEngine, CampaignRunner, list[tuple]]:
    """Run the campaign for two leads until both emails are in the sandbox: each as (stored, raw bytes, parsed)."""
    engine = start_campaign(db, data, ["ann@example.com", "zoë@exämple.com"])
    runner = make_runner(db, [engine])
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: len(mailbox(db)) == 2, what="both emails in the sandbox")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.stop()
    raws = [(stored, stored.raw if isinstance(stored.raw, bytes) else stored.raw.encode()) for stored in mailbox(db)]
    return engine, runner, [(stored, raw, message_from_bytes(raw, policy=policy.default)) for stored, raw in raws]


async def test_a_campaign_with_its_own_sender_goes_out_signed_and_verp_addressed(db):
    new_key("spring-shop.example", "mb1")
    data = one_email_json(name="Spring, 2026")
    data["sender"] = {"name": "Spring Shop, Inc.", "address": "news@spring-shop.example",
                      "reply_to": "help@spring-shop.example", "return_path_domain": "bounces.spring-shop.example"}
    engine, runner, sent = await send_to_two(db, data)
    key = load_key("spring-shop.example")
    for stored, raw, message in sent:
        assert stored.mail_from.startswith("bounce+") and stored.mail_from.endswith("@bounces.spring-shop.example")
        kind, token = parse_verp(stored.mail_from)
        assert kind == "bounce" and runner.tokens.verp.read(token).campaign_uid == engine.uid
        assert message["From"].addresses[0].display_name == "Spring Shop, Inc."
        assert message["Reply-To"] == "help@spring-shop.example"
        assert message["Message-ID"].endswith("@spring-shop.example>")
        assert message["List-Id"] == f'"Spring, 2026" <{engine.uid}.spring-shop.example>'
        assert message["Feedback-ID"] == f"{engine.uid}:e1:spring-shop.example"
        unsubscribe = str(message["List-Unsubscribe"])
        assert "/u/" in unsubscribe and f"<mailto:unsubscribe+{token}@bounces.spring-shop.example>" in unsubscribe
        assert verify(raw, {key.record_name: key.record_value()})


async def test_a_non_ascii_name_with_a_comma_and_an_idn_sender_domain_go_out(db):
    data = one_email_json(name="Brot")
    data["nodes"][1]["sender"] = "Bäckerei Müller, GmbH <info@bäckerei.example>"
    _, _, sent = await send_to_two(db, data)
    for stored, _raw, message in sent:
        (sender,) = message["From"].addresses
        assert (sender.display_name, sender.domain) == ("Bäckerei Müller, GmbH", "xn--bckerei-5wa.example")
        assert stored.mail_from.endswith("@xn--bckerei-5wa.example")
        assert message["Message-ID"].endswith("@xn--bckerei-5wa.example>")

"""Issue 11, item 3, end to end with the real servers: a campaign sends through Postfix to an
unknown local user; Postfix writes a genuine DSN to the VERP Return-Path; Dovecot serves it
over IMAP; the engine's bounce mailbox task reads it, and the lead shows as bounced and
suppressed, while the lead whose mail was delivered carries on."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from engine.bounces.figures import bounce_figures
from engine.bounces.mailbox import supervise_bounce_mailbox
from engine.bounces.settings import BounceMailboxSettings
from engine.delivery.smtp import SmtpSettings
from engine.flow.fileformat import flow_from_data
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.run.report import campaign_figures
from engine.runtime.runner import CampaignRunner, RunnerSettings
from engine.runtime.supervise import Supervisor
from engine.store import suppression
from engine.store.database import Database

from .support import TOKENS, two_emails


async def test_an_unknown_user_bounces_through_postfix_and_dovecot_and_is_suppressed(mail_servers, tmp_path):
    ghost, ann = f"ghost@{mail_servers.local_domain}", "ann@example.com"
    db = Database(tmp_path / "mailbranch.db")
    db.migrate()
    flow = two_emails("Bounce end to end", "3s", {"name": "Shop", "address": "news@shop.example",
                                                  "return_path_domain": mail_servers.bounce_domain})
    engine = CampaignEngine.create(db, flow_from_data(flow), SystemClock(), delivery="real")
    engine.enroll([LeadInput(a, a, {}) for a in (ghost, ann)])
    runner = CampaignRunner(db, [engine], RunnerSettings(SmtpSettings.from_url(mail_servers.smtp_url), grace_ms=100,
                                                         poll_seconds=0.1), SystemClock(), TOKENS)
    # imap:// is STARTTLS; the test trusts Dovecot's self-signed certificate.
    settings = BounceMailboxSettings.from_url(f"imap://bounces@{mail_servers.host}:{mail_servers.imap_port}",
                                              poll_seconds=0.2, ca_file=str(mail_servers.certificate))
    supervisor = Supervisor()
    await runner.start()
    try:
        mailbox = supervise_bounce_mailbox(supervisor, runner,
                                           replace(settings, password=mail_servers.passwords["bounces"]))
        await asyncio.wait_for(runner.run(), 60)
        assert mailbox.status.state == "ok" and mailbox.status.outcomes
    finally:
        await supervisor.stop()
        await runner.stop()
    with db.session() as s:
        entry = suppression.get(s, ghost)
        figures = campaign_figures(s, engine.campaign_id)
        bounces = bounce_figures(s, engine.campaign_id)
    assert entry is not None and entry.reason == "bounce" and "5.1.1" in (entry.note or "")
    assert bounces["e1"].bounced == 1
    # Ann got both emails; the ghost got no second one (skipped as suppressed, or its token failed).
    assert figures.nodes["e2"].sent == 1
    assert figures.nodes["e1"].sent + figures.nodes["e1"].send_failed == 2
    delivered = [m["Subject"] for m in mail_servers.messages("inbox") if m["To"] == ann]
    assert sorted(delivered)[-2:] == ["One", "Two"]
    db.dispose()


async def test_a_mailbox_that_refuses_us_is_shown_not_fatal_and_imaps_works(mail_servers, tmp_path):
    from engine.bounces.mailbox import BounceMailbox
    from engine.bounces.policy import BouncePolicy
    from engine.runtime import status as runtime_status

    db = Database(tmp_path / "mailbranch.db")
    db.migrate()
    policy = BouncePolicy(db, TOKENS.verp, lambda: 1)

    def reader(url: str, password: str) -> BounceMailbox:
        settings = BounceMailboxSettings.from_url(url, ca_file=str(mail_servers.certificate))
        return BounceMailbox(db, replace(settings, password=password), policy, lambda: 1)

    wrong = reader(f"imaps://bounces@{mail_servers.host}:{mail_servers.imaps_port}", "not-the-password")
    assert await wrong.poll_and_report() == []
    assert wrong.status.state == "failing" and "refused the login of bounces" in wrong.status.last_error
    with db.session() as s:
        assert runtime_status.engine_report(s)["bounce_mailbox"]["state"] == "failing"

    away = reader("imaps://bounces@127.0.0.1:1", "x")
    await away.poll_and_report()
    assert "cannot reach 127.0.0.1:1" in away.status.last_error

    untrusted = BounceMailbox(db, replace(BounceMailboxSettings.from_url(
        f"imaps://bounces@{mail_servers.host}:{mail_servers.imaps_port}"), password="x"), policy, lambda: 1)
    await untrusted.poll_and_report()
    assert "certificate" in untrusted.status.last_error and "not trusted" in untrusted.status.last_error

    right = reader(f"imaps://bounces@{mail_servers.host}:{mail_servers.imaps_port}",
                   mail_servers.passwords["bounces"])
    await right.poll_and_report()
    assert right.status.state == "ok" and right.status.last_error is None
    db.dispose()

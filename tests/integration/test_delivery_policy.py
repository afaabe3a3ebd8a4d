"""SMTP policy like a mail server, through the real runner and outbox against
servers on loopback: what a marketer notices is who got the email, who failed
(and why), and what the status says while sending is paused.

- A refusal of the session (login required or refused, MAIL FROM rejected,
  STARTTLS missing, a password we will not send in clear) pauses sending with
  the reason and fails nobody; sending resumes by itself once it is fixed.
- An outage of 20 s is over within seconds of the server coming back, and the
  probes during it are few (per outage, not per batch).
- A 4xx keeps being retried for days, not minutes, with delays of at most an
  hour, and fails with the last reason at the horizon.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from engine.delivery.smtp import SmtpSettings
from engine.run.clock import SystemClock
from engine.runtime.outbox import Outbox
from engine.runtime.policy import DeliveryPolicy
from engine.runtime.runner import CampaignRunner, RunnerSettings

from .picky_smtp import PickyServer
from .support import make_runner, one_email_json, query, start_campaign, until

ADDRESSES = [f"lead{i}@example.com" for i in range(1, 6)]
#: The real policy with its waits shrunk to fractions of a second.
FAST = DeliveryPolicy(retry_base=0.05, retry_cap=0.2, outage_probe=0.1, outage_cap=0.5, session_probe=0.1,
                      session_cap=0.3)


def runner_for(db, engines, url: str, policy: DeliveryPolicy = FAST) -> CampaignRunner:
    settings = RunnerSettings(SmtpSettings.from_url(url), grace_ms=200, poll_seconds=0.1, policy=policy)
    return CampaignRunner(db, engines, settings, SystemClock())


def send_states(db) -> list[tuple]:
    return query(db, "SELECT status, attempts, COUNT(*) FROM sends GROUP BY status, attempts ORDER BY status")


async def pause_then_fix(db, picky: PickyServer, url: str, fix, expect_in_reason: str) -> str:
    """Run until the outbox pauses; check nobody failed and nothing was spent; fix; run to the end."""
    engine = start_campaign(db, one_email_json(), ADDRESSES)
    runner = runner_for(db, [engine], url)
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.outbox.status.state == "paused", what="sending to pause")
        reason = runner.outbox.status.reason or ""
        assert expect_in_reason.lower() in reason.lower(), reason
        assert runner.outbox.status.cause == "session"
        await asyncio.sleep(0.5)  # a few probes, still refused
        assert not task.done()
        # Nobody failed, no try was spent, nothing arrived.
        await until(lambda: send_states(db) == [("queued", 0, len(ADDRESSES))], what="the sends to be handed back")
        assert query(db, "SELECT COUNT(*) FROM tokens WHERE state = 'failed'") == [(0,)]
        assert picky.received == []
        fix()
        await asyncio.wait_for(task, timeout=15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.stop()
    assert sorted(picky.recipients()) == sorted(ADDRESSES)
    assert send_states(db) == [("sent", 0, len(ADDRESSES))]
    assert runner.outbox.status.state != "paused"
    return reason


@pytest.fixture
async def picky():
    server = PickyServer()
    await server.start()
    yield server
    await server.stop()


async def test_login_required_pauses_and_fails_nobody_then_resumes_when_the_server_takes_mail(db, picky):
    picky.login = ("shop", "secret")  # 530 5.7.0 Authentication required, at MAIL FROM
    reason = await pause_then_fix(db, picky, f"smtp://127.0.0.1:{picky.port}",
                                  lambda: setattr(picky, "login", None), "530")
    assert "No lead was failed" in reason


async def test_wrong_password_535_pauses_and_resumes_when_the_password_matches(db, picky):
    picky.login = ("shop", "right")
    url = f"smtp://shop:wrong@127.0.0.1:{picky.port}?allow_plain_auth=1"
    await pause_then_fix(db, picky, url, lambda: setattr(picky, "login", ("shop", "wrong")), "refused the login")
    assert picky.logins >= 1


@pytest.mark.parametrize("reply", ["504 5.5.2 <campaigns@mailbranch.local>: Sender address rejected",
                                   "550 5.7.1 Sender not allowed here",
                                   "553 5.7.1 Sender address not owned by user"])
async def test_mail_from_refused_pauses_with_the_reason_and_resumes_when_fixed(db, picky, reply):
    picky.mail_reply = reply
    reason = await pause_then_fix(db, picky, f"smtp://127.0.0.1:{picky.port}",
                                  lambda: setattr(picky, "mail_reply", None), reply.split()[0])
    assert "MAIL FROM" in reason


_switch: dict = {}


def _serve_plain_url_now() -> None:
    """The fix for a missing STARTTLS is the settings': the runner's sender gets a plain URL."""
    runner, port = _switch["runner"], _switch["port"]
    runner.outbox.sender = type(runner.sender)(SmtpSettings.from_url(f"smtp://127.0.0.1:{port}"))


async def test_starttls_missing_then_settings_fixed(db, picky):
    """STARTTLS required but not offered: paused, nothing sent in clear, until the settings change."""
    engine = start_campaign(db, one_email_json(), ADDRESSES[:2])
    runner = runner_for(db, [engine], f"smtp+starttls://127.0.0.1:{picky.port}")
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.outbox.status.state == "paused", what="sending to pause")
        assert "STARTTLS" in runner.outbox.status.reason
        assert "nothing was sent without encryption" in runner.outbox.status.reason
        await until(lambda: send_states(db) == [("queued", 0, 2)], what="the sends to be handed back untouched")
        _switch.update(runner=runner, port=picky.port)
        _serve_plain_url_now()
        await asyncio.wait_for(task, timeout=15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.stop()
    assert sorted(picky.recipients()) == sorted(ADDRESSES[:2])


async def test_no_password_over_a_connection_without_tls_unless_allowed(db, picky):
    picky.login = ("shop", "secret")
    engine = start_campaign(db, one_email_json(), ADDRESSES[:2])
    runner = runner_for(db, [engine], f"smtp://shop:secret@127.0.0.1:{picky.port}")
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.outbox.status.state == "paused", what="sending to pause")
        assert "the password was not sent" in runner.outbox.status.reason
        await asyncio.sleep(0.3)
        assert picky.logins == 0 and picky.received == []
        await until(lambda: send_states(db) == [("queued", 0, 2)], what="the sends to be handed back untouched")
        # The user allows it explicitly (a trusted network): the same server takes the login and the mail.
        allowed = SmtpSettings.from_url(f"smtp://shop:secret@127.0.0.1:{picky.port}?allow_plain_auth=1")
        assert allowed.allow_plain_auth
        runner.outbox.sender = type(runner.sender)(allowed)
        await asyncio.wait_for(task, timeout=15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.stop()
    assert picky.logins >= 1 and sorted(picky.recipients()) == sorted(ADDRESSES[:2])


class FakeClock:
    def __init__(self) -> None:
        self.t = SystemClock().now()

    def now(self) -> int:
        return self.t


async def queued_sends(db, addresses) -> tuple:
    """A campaign whose emails sit in the outbox, and a runner (for its sender and tracking)."""
    engine = start_campaign(db, one_email_json(), addresses)
    runner = make_runner(db, [engine])
    await runner.start()
    await asyncio.to_thread(engine.process_until, SystemClock().now())
    assert query(db, "SELECT COUNT(*) FROM sends WHERE status = 'queued'") == [(len(addresses),)]
    return engine, runner


async def test_an_outage_of_20s_ends_within_seconds_of_the_server_coming_back(db):
    """The real policy's figures, on an injected clock: few probes, and none far behind the server's return."""
    _engine, runner = await queued_sends(db, ADDRESSES)
    clock = FakeClock()
    outbox = Outbox(db, runner.sender, runner.tokens, lambda: runner.tracking.public_url, clock.now)
    try:
        await runner.sandbox.stop()
        down_at, probes = clock.t, set()
        while clock.t < down_at + 20_000:
            await outbox.run_once()
            error = outbox.status.last_errors.get("server")
            if error:
                probes.add(error["at"])
            assert outbox.status.state == "paused" and "cannot be reached" in outbox.status.reason
            assert outbox.status.resume_at - clock.t <= 60_000
            clock.t += 250
        assert 5 <= len(probes) <= 15, sorted(p - down_at for p in probes)  # per outage, not per batch
        assert send_states(db) == [("queued", 0, len(ADDRESSES))]
        await runner.sandbox.start()
        back_at = clock.t
        while query(db, "SELECT COUNT(*) FROM sends WHERE status = 'sent'") != [(len(ADDRESSES),)]:
            await outbox.run_once()
            clock.t += 250
            assert clock.t - back_at <= 60_000
        assert clock.t - back_at <= 3_000, f"resumed {clock.t - back_at} ms after the server came back"
        assert outbox.status.state == "sending" and outbox.status.reason is None
    finally:
        await runner.stop()


async def test_a_long_outage_probes_at_most_a_minute_apart():
    policy = DeliveryPolicy()
    assert policy.probe_delay("outage", 0) == 2.0
    assert policy.probe_delay("outage", 20) == 2.0
    assert policy.probe_delay("outage", 300) == 30.0
    assert policy.probe_delay("outage", 3 * 3600) == 60.0


async def test_a_4xx_is_retried_for_3_days_at_most_an_hour_apart_then_fails_with_the_reason(db, picky):
    picky.data_reply = "451 4.3.0 Mailbox temporarily unavailable"
    engine = start_campaign(db, one_email_json(), ADDRESSES[:1])
    runner = runner_for(db, [engine], f"smtp://127.0.0.1:{picky.port}", policy=DeliveryPolicy())
    await runner.start()
    try:
        await asyncio.to_thread(engine.process_until, SystemClock().now())
        clock = FakeClock()
        outbox = Outbox(db, runner.sender, runner.tokens, lambda: runner.tracking.public_url, clock.now)
        (queued_at,), = query(db, "SELECT at FROM sends")
        tries: list[int] = []
        while True:
            await outbox.run_once()
            tries.append(clock.t)
            (status, next_at, error), = query(db, "SELECT status, next_attempt_at, error FROM sends")
            if status == "failed":
                break
            assert status == "queued" and "451" in error
            assert next_at - clock.t <= 3600 * 1000  # never more than an hour between two tries
            clock.t = max(clock.t, next_at)
        gaps = [b - a for a, b in zip(tries, tries[1:], strict=False)]
        assert any(t - queued_at > 9 * 60_000 for t in tries[:-1]), "still retrying after 9 minutes"
        assert tries[-1] - queued_at >= 3 * 86_400_000 - 1 and tries[-2] - queued_at < 3 * 86_400_000
        assert gaps == sorted(gaps) or max(gaps) <= 3600 * 1000  # growing, then capped
        (attempts, error), = query(db, "SELECT attempts, error FROM sends")
        assert attempts == len(tries)
        assert "3 days" in error and "451" in error
        # The engine fails the lead's token from this event (it is not playing in this test).
        assert query(db, "SELECT COUNT(*) FROM events WHERE type = 'send_failed'") == [(1,)]
        assert outbox.status.last_errors["transient"]["error"].startswith("451")
    finally:
        await runner.stop()


async def test_policy_figures_shrink_for_tests_but_keep_their_shape():
    policy = replace(DeliveryPolicy(), retry_base=1, retry_cap=4)
    delays = [policy.retry_delay(n, rng=lambda: 1.0) for n in range(1, 6)]
    assert delays == [1, 2, 4, 4, 4]
    assert [policy.retry_delay(n, rng=lambda: 0.0) for n in (1, 2)] == [0.5, 1]


async def test_the_run_views_line_says_paused_and_why_in_few_words_and_the_whole_story_on_hover(db, picky):
    from engine.runtime.status import describe_outbox

    picky.mail_reply = "550 5.7.1 Sender not allowed here"
    engine = start_campaign(db, one_email_json(), ADDRESSES[:1])
    runner = runner_for(db, [engine], f"smtp://127.0.0.1:{picky.port}")
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.outbox.status.state == "paused", what="sending to pause")
        line, why = describe_outbox(runner.outbox.status.as_json(), {"count": 2, "next_at": None})
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.stop()
    assert line == "outbox paused, server refuses us · 2 retries waiting"
    assert "550 5.7.1 Sender not allowed here" in why and "Next try at" in why
    assert "Last error, session refused" in why
    assert describe_outbox({"state": "sending", "last_errors": {}}, {"count": 0}) == ("outbox sending", "")
    assert set(picky.ehlo_names) == {"localhost.localdomain"}  # a fixed name, no DNS lookup per connection


def self_signed_certificate(folder) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that no system trusts, and its key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "picky.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "picky.pem", folder / "picky.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


async def test_a_certificate_that_does_not_verify_pauses_and_the_ca_bundle_setting_fixes_it(db, tmp_path):
    import ssl

    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = PickyServer(tls_context=context, login=("shop", "secret"))
    await server.start()
    engine = start_campaign(db, one_email_json(), ADDRESSES[:2])
    url = f"smtp+starttls://shop:secret@127.0.0.1:{server.port}"
    runner = runner_for(db, [engine], url)
    await runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await until(lambda: runner.outbox.status.state == "paused", what="sending to pause")
        assert "certificate does not verify" in runner.outbox.status.reason
        assert "CA bundle" in runner.outbox.status.reason
        await until(lambda: send_states(db) == [("queued", 0, 2)], what="the sends to be handed back untouched")
        assert server.logins == 0  # no password went to a server we could not verify
        trusted = SmtpSettings.from_url(url).with_options(ca_file=cert)
        runner.outbox.sender = type(runner.sender)(trusted)
        await asyncio.wait_for(task, timeout=15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.stop()
        await server.stop()
    assert server.logins >= 1 and sorted(server.recipients()) == sorted(ADDRESSES[:2])

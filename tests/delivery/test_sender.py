from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from engine.delivery.mailbox import count_messages, list_messages
from engine.delivery.sandbox import SandboxServer
from engine.delivery.smtp import Sender, SmtpSettings, SmtpUrlError, TokenBucket, backoff

from .conftest import make_message


def settings_for(sandbox: SandboxServer, **kwargs) -> SmtpSettings:
    return replace(SmtpSettings.from_url("sandbox"), port=sandbox.port, timeout=5, **kwargs)


def stored(db) -> int:
    with db.session() as session:
        return count_messages(session)


async def test_messages_are_delivered_over_one_reused_connection(sandbox, db):
    async with Sender(settings_for(sandbox, max_connections=2)) as sender:
        outcomes = [await sender.send(make_message(f"lead{i}@example.com", message_id=f"<m{i}@test>"))
                    for i in range(5)]
    assert all(o.ok for o in outcomes)
    assert sender.connections_made == 1
    assert stored(db) == 5


async def test_temporary_failure_then_success(sandbox, db):
    sandbox.fail_next(1, "451 4.3.0 Try again later")
    async with Sender(settings_for(sandbox)) as sender:
        first = await sender.send(make_message())
        second = await sender.send(make_message())
    assert (first.ok, first.permanent, first.transient, first.code) == (False, False, True, 451)
    assert "Try again later" in first.error
    assert second.ok
    assert stored(db) == 1


async def test_5xx_is_permanent(sandbox, db):
    sandbox.fail_next(1, "554 5.7.1 Message rejected as spam")
    async with Sender(settings_for(sandbox)) as sender:
        outcome = await sender.send(make_message())
    assert (outcome.ok, outcome.permanent, outcome.code, outcome.scope) == (False, True, 554, "message")
    assert stored(db) == 0


async def test_drop_in_the_middle_of_data_is_transient_and_the_next_send_reconnects(sandbox, db):
    sandbox.drop_next(1)
    async with Sender(settings_for(sandbox)) as sender:
        dropped = await sender.send(make_message())
        again = await sender.send(make_message())
    assert dropped.transient and dropped.code is None and "disconnected" in dropped.error
    assert again.ok
    assert sender.connections_made == 2
    assert stored(db) == 1


async def test_server_down_then_back(sandbox, db):
    async with Sender(settings_for(sandbox)) as sender:
        assert (await sender.send(make_message(subject="before", message_id="<before@test>"))).ok
        await sandbox.stop()
        # The pooled connection may fail first (it was open when the server went);
        # either way nothing is lost, and a fresh connect is refused as server trouble.
        first = await sender.send(make_message(subject="while down"))
        assert first.transient
        down = await sender.send(make_message(subject="while down"))
        assert down.transient and down.scope == "server" and "cannot connect" in down.error
        await sandbox.start()
        back = await sender.send(make_message(subject="after", message_id="<after@test>"))
    assert back.ok
    with db.session() as session:
        assert [m.subject for m in list_messages(session, newest_first=False)] == ["before", "after"]


async def test_nothing_listening_is_transient_server_trouble():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Sender(SmtpSettings(host="127.0.0.1", port=port, start_tls=False, timeout=2)) as sender:
        outcome = await sender.send(make_message())
    assert outcome.transient and outcome.scope == "server" and "connect" in outcome.error


async def test_concurrent_sends_use_at_most_max_connections(sandbox, db):
    async with Sender(settings_for(sandbox, max_connections=3)) as sender:
        outcomes = await asyncio.gather(*(sender.send(make_message(f"l{i}@example.com", message_id=f"<m{i}@test>"))
                                             for i in range(20)))
    assert all(o.ok for o in outcomes)
    assert 1 <= sender.connections_made <= 3
    assert stored(db) == 20


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_rate_limit_spaces_sends():
    fake = FakeTime()
    bucket = TokenBucket(rate=4, burst=2, clock=fake.clock, sleep=fake.sleep)
    times = []
    for _ in range(10):
        await bucket.acquire()
        times.append(fake.now)
    # Two at once (the burst), then one every quarter second.
    assert times[:2] == [0.0, 0.0]
    assert times[2:] == pytest.approx([0.25 * i for i in range(1, 9)])


async def test_rate_limit_holds_for_concurrent_senders_against_the_sandbox(sandbox, db):
    fake = FakeTime()
    bucket = TokenBucket(rate=2, clock=fake.clock, sleep=fake.sleep)
    async with Sender(settings_for(sandbox), bucket=bucket) as sender:
        outcomes = await asyncio.gather(*(sender.send(make_message(f"l{i}@example.com", message_id=f"<m{i}@test>"))
                                             for i in range(6)))
    assert all(o.ok for o in outcomes)
    assert stored(db) == 6
    assert fake.now == pytest.approx(2.5)  # 6 messages at 2/s: the last goes out at 2.5 s
    assert len(fake.sleeps) == 5


def test_backoff_grows_with_full_jitter_and_is_capped():
    assert backoff(1, base=10, rng=lambda: 0.999) == pytest.approx(9.99)
    assert backoff(3, base=10, rng=lambda: 1.0) == 40
    assert backoff(30, base=10, cap=600, rng=lambda: 1.0) == 600
    assert backoff(1000, base=10, cap=600, rng=lambda: 0.5) == 300
    assert all(0 <= backoff(4, base=10) <= 80 for _ in range(100))


def test_settings_from_urls():
    plain = SmtpSettings.from_url("smtp://mailer%40shop.example:p%3Ass@mail.shop.example:2525?rate=5&connections=2")
    assert (plain.host, plain.port, plain.username, plain.password) == ("mail.shop.example", 2525, "mailer@shop.example", "p:ss")
    assert (plain.use_tls, plain.start_tls, plain.rate_per_second, plain.max_connections) == (False, None, 5.0, 2)
    tls = SmtpSettings.from_url("smtps://u:p@smtp.example")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, False)
    starttls = SmtpSettings.from_url("smtp+starttls://smtp.example")
    assert (starttls.port, starttls.start_tls, starttls.username) == (587, True, None)
    sandbox = SmtpSettings.from_url(" Sandbox ")
    assert sandbox.sandbox and sandbox.host == "127.0.0.1"
    for bad in ("http://x", "smtp://", "smtp://h:port", "smtp://h?rate=-1", "smtp://h?connections=x"):
        with pytest.raises(SmtpUrlError):
            SmtpSettings.from_url(bad)


def test_sandbox_settings_need_the_running_port():
    with pytest.raises(ValueError, match="start the sandbox"):
        Sender(SmtpSettings.from_url("sandbox"))


async def test_send_raw_delivers_pre_rendered_bytes(sandbox, db):
    raw = make_message("ann@example.com", "From the outbox", "<t1.e1.1@mailbranch.local>").as_bytes()
    async with Sender(settings_for(sandbox)) as sender:
        outcome = await sender.send_raw("bounce@shop.example", ["ann@example.com"], raw)
    assert outcome.ok
    with db.session() as session:
        (message,) = list_messages(session)
        assert (message.mail_from, message.rcpt_tos, message.subject) == (
            "bounce@shop.example", ["ann@example.com"], "From the outbox")

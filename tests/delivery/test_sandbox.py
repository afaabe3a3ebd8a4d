from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiosmtplib
import pytest

from engine.delivery.mailbox import (
    count_by_message_id,
    count_messages,
    count_resends,
    get_message,
    list_messages,
)
from engine.delivery.sandbox import SandboxServer

from .conftest import make_message

#: The EHLO name the test clients give, as the engine's client does: without one aiosmtplib
#: looks this machine's name up (``socket.getfqdn()``) for every connection, which takes
#: seconds where the host name does not resolve (containers, some cloud images).
EHLO = "mailbranch-test"


async def send(port: int, message) -> None:
    await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=5, local_hostname=EHLO)


async def test_port_zero_is_read_back_and_messages_are_kept(sandbox, db):
    assert sandbox.port > 0
    await send(sandbox.port, make_message("ann@example.com", "Spring offer", "<a@test>"))
    await send(sandbox.port, make_message("bob@example.com", "Grüße", "<b@test>"))
    with db.session() as session:
        newest, oldest = list_messages(session)
        assert (newest.subject, newest.rcpt_tos, newest.message_id) == ("Grüße", ["bob@example.com"], "<b@test>")
        assert oldest.mail_from == "shop@example.com"
        assert oldest.body("plain").strip() == "Hi there"
        assert get_message(session, oldest.id).subject == "Spring offer"
        assert [m.subject for m in list_messages(session, to="ANN@example.com")] == ["Spring offer"]
        assert count_messages(session) == 2


async def test_refused_message_is_not_kept(sandbox, db):
    sandbox.fail_next(1, "550 5.1.1 No such user")
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await send(sandbox.port, make_message())
    assert info.value.code == 550
    await send(sandbox.port, make_message())
    with db.session() as session:
        assert count_messages(session) == 1


async def test_a_resend_after_a_lost_reply_is_accepted_kept_once_and_counted(sandbox, db):
    sandbox.drop_next(1, after_storing=True)
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await send(sandbox.port, make_message(message_id="<t1.e1.1@mailbranch.local>"))
    errors, reply = await aiosmtplib.send(make_message(message_id="<t1.e1.1@mailbranch.local>"),
                                          hostname="127.0.0.1", port=sandbox.port, timeout=5,
                                          local_hostname=EHLO)
    assert errors == {} and reply.startswith("2.0.0")
    with db.session() as session:
        assert count_by_message_id(session) == {"<t1.e1.1@mailbranch.local>": 1}
        assert count_resends(session) == 1
    assert (sandbox.received, sandbox.resends) == (1, 1)
    # `mailbranch mailbox` lists the message once and says a copy came again.
    listing = subprocess.run([str(Path(sys.executable).parent / "mailbranch"), "mailbox", "--db", str(db_path(db))],
                             capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("ann@example.com") == 1
    assert "1 message(s) arrived again with a Message-ID already here (a resend after a crash)" in listing.stdout


def db_path(db) -> str:
    return db.url.split(":///", 1)[1]


async def test_stop_and_restart_on_the_same_port(sandbox, db):
    port = sandbox.port
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, local_hostname=EHLO)
    await client.connect()
    await sandbox.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await send(port, make_message())
    await sandbox.start()
    assert sandbox.port == port
    await send(port, make_message())
    with db.session() as session:
        assert count_messages(session) == 1
    client.close()


async def test_two_sandboxes_can_share_one_database(db):
    async with SandboxServer(db) as first, SandboxServer(db) as second:
        assert first.port != second.port
        await send(first.port, make_message(message_id="<m1@test>"))
        await send(second.port, make_message(message_id="<m2@test>"))
    with db.session() as session:
        assert count_messages(session) == 2


async def test_port_in_use_is_a_clear_error(sandbox, db):
    from engine.delivery.errors import CannotListen

    with pytest.raises(CannotListen, match="choose another"):
        await SandboxServer(db, port=sandbox.port).start()


async def test_storage_failure_is_a_temporary_refusal_not_a_lost_message(sandbox, db, monkeypatch):
    def broken(batch):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(sandbox, "_store_batch", broken)
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await send(sandbox.port, make_message())
    assert info.value.code == 451
    monkeypatch.undo()
    await send(sandbox.port, make_message())
    with db.session() as session:
        assert count_messages(session) == 1


async def test_concurrent_sessions_are_all_stored(sandbox, db, monkeypatch):
    import asyncio
    import socket

    def no_lookup(name: str = "") -> str:
        raise AssertionError("an SMTP session looked up this machine's host name")

    # Neither side may depend on the host name resolving: the sandbox names itself and the
    # clients give their EHLO name, so 25 sessions take no DNS round trips.
    monkeypatch.setattr(socket, "getfqdn", no_lookup)
    await asyncio.gather(*(send(sandbox.port, make_message(f"l{i}@example.com", message_id=f"<{i}@t>"))
                           for i in range(25)))
    with db.session() as session:
        assert len(count_by_message_id(session)) == 25

"""The lean mail transaction: what the server receives, and what a refusal does,
is the same as aiosmtplib's sendmail, for plain and for unusual addresses."""

from __future__ import annotations

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from engine.delivery.smtp_transaction import is_plain, send_envelope
from tests.integration.picky_smtp import PickyServer

RAW = b"From: a@shop.example\r\nTo: b@example.com\r\nSubject: Hi\r\n\r\n.leading dot\r\nbody\r\n"


class RefusingRecipients(PickyServer):
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
async def server():
    picky = RefusingRecipients()
    await picky.start()
    yield picky
    await picky.stop()


async def connected(server: PickyServer) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, local_hostname="test.local",
                             start_tls=False, use_tls=False)
    await client.connect()
    return client


@pytest.mark.parametrize("sender,recipient", [
    ("news@shop.example", "b@example.com"),
    ('"odd name"@shop.example', "b@example.com"),  # quoted local part: through sendmail's parser
])
async def test_the_server_receives_the_envelope_and_the_message_unchanged(server, sender, recipient):
    client = await connected(server)
    try:
        refused, _reply = await send_envelope(client, sender, [recipient], RAW)
    finally:
        client.close()
    assert refused == {}
    (got,) = server.received
    assert (got.mail_from, got.rcpt_tos) == (sender, [recipient])
    assert got.raw.replace(b"\r\n", b"\n") == RAW.replace(b"\r\n", b"\n")  # dot-stuffing undone by the server


async def test_a_refused_recipient_raises_like_sendmail_and_the_connection_goes_on(server):
    client = await connected(server)
    try:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
            await send_envelope(client, "news@shop.example", ["nobody@example.com"], RAW)
        assert caught.value.recipients[0].code == 550
        # The envelope was reset: the next message on the same connection goes through.
        refused, _reply = await send_envelope(client, "news@shop.example", ["b@example.com"], RAW)
    finally:
        client.close()
    assert refused == {}
    assert server.recipients() == ["b@example.com"]


async def test_one_refused_recipient_of_two_is_reported_and_the_other_gets_it(server):
    client = await connected(server)
    try:
        refused, _reply = await send_envelope(client, "news@shop.example",
                                              ["nobody@example.com", "b@example.com"], RAW)
    finally:
        client.close()
    assert list(refused) == ["nobody@example.com"] and refused["nobody@example.com"].code == 550
    assert server.recipients() == ["b@example.com"]


async def test_a_refused_sender_raises_sender_refused(server):
    server.mail_reply = "553 5.7.1 Sender not allowed"
    client = await connected(server)
    try:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as caught:
            await send_envelope(client, "news@shop.example", ["b@example.com"], RAW)
    finally:
        client.close()
    assert caught.value.code == 553 and server.received == []


@pytest.mark.parametrize("address,plain", [
    ("a@b.example", True), ("first.last+tag@sub.example.com", True), ("a b@c.example", False),
    ("<a@b.example>", False), ("Shop <a@b.example>", False), ("a@b.example\r\nRCPT TO:<x@y>", False),
    ("jörg@example.com", False), ("a@exämple.com", False), ("a@", False), ("@b.example", False),
])
def test_only_bare_ascii_addresses_skip_the_parser(address, plain):
    assert is_plain(address) is plain

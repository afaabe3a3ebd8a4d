"""The sandbox's chunked DATA reader keeps aiosmtpd's semantics, over raw sockets."""

from __future__ import annotations

import asyncio

from engine.delivery import sandbox as sandbox_module
from engine.delivery.mailbox import count_messages, list_messages


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Client:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        assert (await client.reply()).startswith("220")
        assert (await client.command("EHLO test")).startswith("250")
        return client

    async def reply(self) -> str:
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readuntil(b"\r\n"), 5)).decode()
            lines.append(line)
            if line[3:4] != "-":
                return "".join(lines)

    async def command(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        return await self.reply()

    async def envelope(self, to: str = "ann@example.com") -> None:
        assert (await self.command("MAIL FROM:<shop@example.com>")).startswith("250")
        assert (await self.command(f"RCPT TO:<{to}>")).startswith("250")
        assert (await self.command("DATA")).startswith("354")

    async def close(self) -> None:
        self.writer.close()


def stored(db) -> list[bytes]:
    with db.session() as session:
        return [m.raw for m in reversed(list_messages(session))]


async def test_dot_stuffed_lines_are_unstuffed(sandbox, db):
    client = await Client.open(sandbox.port)
    await client.envelope()
    client.writer.write(b"Subject: x\r\n\r\n..leading dot\r\n..\r\n...\r\nend.\r\n.one dot\r\n.\r\n")
    assert (await client.reply()).startswith("250")
    assert stored(db) == [b"Subject: x\r\n\r\n.leading dot\r\n.\r\n..\r\nend.\r\none dot\r\n"]
    await client.close()


async def test_empty_message_and_terminator_right_after_the_first_line(sandbox, db):
    client = await Client.open(sandbox.port)
    await client.envelope()
    client.writer.write(b".\r\n")
    assert (await client.reply()).startswith("250")
    await client.envelope()
    client.writer.write(b"one line\r\n.\r\n")
    assert (await client.reply()).startswith("250")
    assert stored(db) == [b"", b"one line\r\n"]
    await client.close()


async def test_message_in_pieces_and_ending_exactly_at_a_chunk_boundary(sandbox, db, monkeypatch):
    monkeypatch.setattr(sandbox_module, "_CHUNK", 16)
    body = b"".join(b"line %03d of the message\r\n" % i for i in range(40))
    message = b"Subject: chunks\r\n\r\n" + body
    client = await Client.open(sandbox.port)
    await client.envelope()
    # the terminator split over several writes, one byte at a time at the end
    client.writer.write(message)
    await client.writer.drain()
    for byte in b".\r\n":
        await asyncio.sleep(0.01)
        client.writer.write(bytes([byte]))
    assert (await client.reply()).startswith("250")
    # a message whose data plus terminator is an exact number of chunks
    await client.envelope()
    exact = b"x" * (16 * 4 - 3 - 2) + b"\r\n"
    assert (len(exact) + 3) % 16 == 0
    client.writer.write(exact + b".\r\n")
    assert (await client.reply()).startswith("250")
    assert stored(db) == [message, exact]
    await client.close()


async def test_pipelined_next_command_is_not_lost(sandbox, db):
    client = await Client.open(sandbox.port)
    await client.envelope()
    client.writer.write(b"Subject: a\r\n\r\nfirst\r\n.\r\nMAIL FROM:<shop@example.com>\r\nRCPT TO:<bob@example.com>\r\n")
    assert (await client.reply()).startswith("250 2.0.0")
    assert (await client.reply()).startswith("250")  # MAIL
    assert (await client.reply()).startswith("250")  # RCPT
    assert (await client.command("DATA")).startswith("354")
    client.writer.write(b"Subject: b\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
    assert (await client.reply()).startswith("250")
    assert (await client.reply()).startswith("221")
    assert stored(db) == [b"Subject: a\r\n\r\nfirst\r\n", b"Subject: b\r\n\r\nsecond\r\n"]
    with db.session() as session:
        assert list_messages(session)[0].rcpt_tos == ["bob@example.com"]


async def test_connection_dropped_mid_data_keeps_nothing_and_the_server_goes_on(sandbox, db):
    client = await Client.open(sandbox.port)
    await client.envelope()
    client.writer.write(b"Subject: half\r\n\r\nthe first half\r\n")
    await client.writer.drain()
    client.writer.transport.abort()
    await asyncio.sleep(0.05)
    with db.session() as session:
        assert count_messages(session) == 0
    client = await Client.open(sandbox.port)
    await client.envelope()
    client.writer.write(b"whole\r\n.\r\n")
    assert (await client.reply()).startswith("250")
    assert stored(db) == [b"whole\r\n"]
    await client.close()


async def test_size_and_line_limits_answer_like_aiosmtpd_and_the_session_goes_on(sandbox, db, monkeypatch):
    monkeypatch.setattr(sandbox_module, "_CHUNK", 64)
    client = await Client.open(sandbox.port)
    await client.envelope()
    client.writer.write(b"short\r\n" + b"y" * 1500 + b"\r\n.\r\n")
    assert (await client.reply()).startswith("500 Line too long")
    for conn in list(sandbox._connections):
        conn.data_size_limit = 100
    await client.envelope()
    client.writer.write(b"z" * 60 + b"\r\n" + b"z" * 60 + b"\r\n.\r\n")
    assert (await client.reply()).startswith("552")
    # far over the limit: the data is dropped while reading, the terminator still found
    await client.envelope()
    client.writer.write((b"w" * 70 + b"\r\n") * 200 + b".\r\n")
    assert (await client.reply()).startswith("552")
    await client.envelope()
    client.writer.write(b"fits\r\n.\r\n")
    assert (await client.reply()).startswith("250")
    assert stored(db) == [b"fits\r\n"]
    await client.close()


async def test_faults_still_apply(sandbox, db):
    sandbox.fail_next(1)
    client = await Client.open(sandbox.port)
    await client.envelope()
    client.writer.write(b"refused\r\n.\r\n")
    assert (await client.reply()).startswith("451")
    sandbox.drop_next(1)
    await client.envelope()
    client.writer.write(b"dropped\r\n.\r\n")
    assert await client.reader.read() == b""
    with db.session() as session:
        assert count_messages(session) == 0


def test_fast_address_parsing_agrees_with_aiosmtpd():
    from aiosmtpd.smtp import SMTP

    from engine.delivery.sandbox import _TrackedSMTP

    class Plain(SMTP):
        def __init__(self):
            self.local_part_limit = 0

    class Fast(_TrackedSMTP):
        def __init__(self):
            self.local_part_limit = 0

    args = ["<ana@example.com>", "<ana.b+tag@mail.example.co.uk> SIZE=1234", " <x@y.example>", "<a@b>",
            "<\"quoted local\"@example.com>", "<>", "ana@example.com", "<ana@[127.0.0.1]>", "<ana@@x>",
            "<ana..b@x.example>", "<ana@example.com> BODY=8BITMIME SMTPUTF8", "<zoë@example.com>",
            "<a@b.example>  ", "<a@b.example>\tSIZE=1", "<a(comment)@b.example>", "<-a-@-b-.example>"]
    for arg in args:
        assert Fast()._getaddr(arg) == Plain()._getaddr(arg), arg

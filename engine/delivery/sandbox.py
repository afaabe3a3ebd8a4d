"""The built-in sandbox SMTP server: the default outgoing server, on loopback.

It runs aiosmtpd's SMTP protocol inside the caller's event loop (through
``loop.create_server``, not aiosmtpd's threaded ``Controller``), so the engine
starts and stops it with ``await`` next to its other servers, and port 0
works: the real port is read back from the socket. Every accepted message
is stored in the mailbox table; a message whose Message-ID the mailbox
already holds (a resend after a crash) is answered 250 and counted, not kept
twice. When the engine runs the sandbox in its own process on the same
database, ``on_accepted`` marks the sends sent in the very transaction that
keeps the messages, so the mailbox and the outbox cannot disagree.

For tests (and for trying the retry logic by hand) it can misbehave on
purpose: answer the next messages with a 4xx or 5xx, or drop the
connection in the middle of DATA, before or after keeping the message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from aiosmtpd.smtp import MISSING, SMTP, Envelope, syntax
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.orm import Session

from engine.delivery.errors import CannotListen
from engine.delivery.mailbox import store_messages
from engine.faults import crash_point
from engine.store.bulk import begin_write
from engine.store.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    """What to do with one incoming message instead of accepting it.

    ``reply`` is an SMTP reply such as ``451 4.3.0 Try again later``; or
    ``drop`` closes the connection without a reply (``store`` first keeps
    the message, as when a server accepted it but the reply was lost).
    """

    reply: Optional[str] = None
    drop: bool = False
    store: bool = False


_Received = tuple[str, list[str], bytes]


class _GroupCommitWriter:
    """Stores messages from all sessions in shared transactions.

    A session's 250 reply waits until its message is committed (a crash
    never loses a message the sender was told was accepted), but messages
    arriving while a commit runs share the next one: one commit and one
    thread hop for many messages, instead of one each.
    """

    def __init__(self, write: Callable[[list[_Received]], None]) -> None:
        self._write = write
        self._pending: list[tuple[_Received, asyncio.Future[None]]] = []
        self._task: Optional[asyncio.Task[None]] = None

    async def store(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(((mail_from, rcpt_tos, raw), done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._write, [item for item, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


class _MailboxHandler:
    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        fault = self.sandbox._next_fault()
        if fault is not None and not (fault.drop and fault.store):
            if fault.drop:
                self.sandbox._drop(server)
                return "421 4.4.2 Connection dropped by the sandbox"
            assert fault.reply is not None
            return fault.reply
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        try:
            await self.sandbox._writer.store(envelope.mail_from or "", list(envelope.rcpt_tos), raw)
        except Exception as exc:  # e.g. the database is locked: the client should retry, not give up
            log.exception("sandbox could not store a message")
            return f"451 4.3.0 The sandbox could not store the message ({type(exc).__name__})"
        crash_point("sandbox_stored")  # committed, not yet answered: the client never hears the 250
        if fault is not None:
            self.sandbox._drop(server)
            return "421 4.4.2 Connection dropped by the sandbox"
        return "250 2.0.0 Message accepted by the Mailbranch sandbox"


class SandboxServer:
    """An SMTP server on loopback that keeps every message in the database."""

    def __init__(self, db: Database, host: str = "127.0.0.1", port: int = 0, hostname: str = "mailbranch-sandbox"):
        self.db = db
        self.host = host
        self.port = port
        self.hostname = hostname
        self.received = 0
        #: Copies of a Message-ID already in the mailbox: answered 250, not kept again.
        self.resends = 0
        #: Called inside the transaction that keeps a group of messages, with their
        #: (Message-ID, received at), before any of them is answered 250: the engine
        #: in this process marks their sends sent there (``runtime/journal.py``).
        self.on_accepted: Optional[Callable[[Session, list[tuple[str, int]]], object]] = None
        self._faults: deque[Fault] = deque()
        self._server: Optional[asyncio.AbstractServer] = None
        self._connections: set[SMTP] = set()
        self._writer = _GroupCommitWriter(lambda batch: self._store_batch(batch))

    # Faults -----------------------------------------------------------------

    def fail_next(self, count: int = 1, reply: str = "451 4.3.0 Temporary failure, try again later") -> None:
        """Answer the next ``count`` messages with ``reply`` (use a 5xx for a permanent refusal)."""
        self._faults.extend(Fault(reply=reply) for _ in range(count))

    def drop_next(self, count: int = 1, *, after_storing: bool = False) -> None:
        """Close the connection mid-DATA for the next ``count`` messages, with no reply."""
        self._faults.extend(Fault(drop=True, store=after_storing) for _ in range(count))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _next_fault(self) -> Optional[Fault]:
        return self._faults.popleft() if self._faults else None

    def _drop(self, server: SMTP) -> None:
        if server.transport is not None:
            server.transport.abort()

    def _store_batch(self, batch: list[_Received]) -> None:
        with self.db.session() as session:
            begin_write(session)  # it reads (known Message-IDs) before it writes
            stored = store_messages(session, batch)
            if self.on_accepted is not None:
                self.on_accepted(session, stored.accepted)
        self.received += stored.stored
        self.resends += stored.resent

    # Life cycle -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def _factory(self) -> SMTP:
        smtp = _TrackedSMTP(self, _MailboxHandler(self), hostname=self.hostname, enable_SMTPUTF8=True)
        return smtp

    async def start(self) -> None:
        """Listen on ``host:port``; with port 0 the real port is read back into ``port``."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(self._factory, host=self.host, port=self.port, reuse_address=True)
        except OSError as exc:
            raise CannotListen(
                f"The sandbox mail server cannot listen on {self.host}:{self.port} ({exc.strerror or exc}). "
                "Another program may be using the port; choose another one."
            ) from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("sandbox SMTP server listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and close open sessions; ``start()`` again reuses the same port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for smtp in list(self._connections):
            if smtp.transport is not None:
                smtp.transport.close()
        await server.wait_closed()
        await asyncio.sleep(0)

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


_TERMINATOR = b"\r\n.\r\n"
_CHUNK = 1 << 16


def _data_verdict(lines: list[bytes], size_limit: Optional[int], line_limit: int) -> Optional[str]:
    """aiosmtpd's verdict on DATA lines (without their CRLF): None to accept, or the error reply.

    The same rules in the same order as ``SMTP.smtp_DATA``: a line longer than
    the stream limit (``line_limit``) is "too long" at once; otherwise the
    running size is checked against ``size_limit`` before the line's length.
    """
    total = 0
    for line in lines:
        length = len(line) + 2
        if length - 2 >= line_limit:
            return "500 Line too long (see RFC5321 4.5.3.1.6)"
        total += length
        if size_limit and total > size_limit:
            return "552 Error: Too much mail data"
        if length > line_limit:
            return "500 Line too long (see RFC5321 4.5.3.1.6)"
    return None


#: ``<local@domain>`` with an unquoted dot-atom local part and a plain domain, then the rest.
_PLAIN_ADDRESS = re.compile(r"\s*<(([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
                            r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*(.*)\Z", re.DOTALL)


class _TrackedSMTP(SMTP):
    """aiosmtpd's SMTP session, registered with its server so ``stop()`` can close it.

    DATA is read in large chunks up to the ``CRLF.CRLF`` terminator instead of
    line by line (aiosmtpd awaits and logs every line); the result is the same:
    dot-unstuffing (RFC 5321 4.5.2), the size and line-length limits with the
    same replies, and bytes after the terminator (a pipelined next command)
    handed back to the reader for the command loop.
    """

    def __init__(self, sandbox: SandboxServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sandbox = sandbox

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._sandbox._connections.add(self)
        super().connection_made(transport)

    def _getaddr(self, arg: str) -> tuple[Optional[str], Optional[str]]:
        """aiosmtpd's address parsing (the email package's header parser, the
        dearest step of MAIL and RCPT), with a fast path for the plain
        ``<local@domain>`` form every campaign sends; anything else goes the
        full way. ``tests/delivery/test_sandbox_data.py`` checks both agree."""
        match = _PLAIN_ADDRESS.match(arg)
        if match is None or (self.local_part_limit and len(match.group(2)) > self.local_part_limit):
            return super()._getaddr(arg)
        return match.group(1), match.group(3)

    def connection_lost(self, error: Optional[Exception]) -> None:
        self._sandbox._connections.discard(self)
        super().connection_lost(error)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if self._decode_data or "DATA" not in self._handle_hooks:
            await super().smtp_DATA(arg)  # configurations the sandbox does not use
            return
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        if self.transport is None:
            return
        try:
            data, verdict = await self._read_data()
        except asyncio.CancelledError:
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        if data is None:
            self._writer.close()
            return
        if verdict is not None:
            await self.push(verdict)
            self._set_post_data_state()
            return
        content = data.replace(b"\r\n.", b"\r\n")[2:] if b"\r\n." in data else data[2:]
        self.envelope.content = content
        self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> tuple[Optional[bytes], Optional[str]]:
        """The message as ``CRLF`` + its stuffed lines (each with its CRLF), or an error reply.

        A leading CRLF is put in front so that the terminator is always
        ``CRLF.CRLF``, even for an empty message, and every line start follows
        a CRLF. Whatever arrived after the terminator goes back to the reader.
        """
        reader = self._reader
        size_limit = self.data_size_limit
        line_limit = self.line_length_limit
        buf = bytearray(b"\r\n")
        searched = 0
        verdict: Optional[str] = None
        while True:
            chunk = await reader.read(_CHUNK)
            if not chunk:  # EOF: aiosmtpd cancels this task first, so hardly ever seen here
                return None, None
            buf += chunk
            end = buf.find(_TERMINATOR, searched)
            if end >= 0:
                break
            searched = max(0, len(buf) - (len(_TERMINATOR) - 1))
            if verdict is None and size_limit and len(buf) > size_limit + 4 * line_limit:
                # Too much anyway: decide from what came so far, then keep only a tail
                # to find the terminator in (aiosmtpd also discards the data).
                lines = bytes(buf[2:]).split(b"\r\n")
                verdict = _data_verdict(lines, size_limit, line_limit)
                assert verdict is not None
            if verdict is not None:
                del buf[: -(len(_TERMINATOR) - 1)]
                searched = 0
        excess = buf[end + len(_TERMINATOR):]
        if excess:
            reader._buffer[:0] = excess  # type: ignore[attr-defined]
        data = bytes(buf[: end + 2])
        if verdict is None and (len(data) - 2 > (size_limit or len(data)) or _has_long_line(data, line_limit)):
            verdict = _data_verdict(data[2:-2].split(b"\r\n"), size_limit, line_limit)
        return data, verdict


def _has_long_line(data: bytes, line_limit: int) -> bool:
    """Whether a line of ``data`` (CRLF + lines) is longer than ``line_limit`` with its CRLF."""
    if len(data) - 2 <= line_limit:
        return False
    return max(map(len, data.split(b"\r\n"))) + 2 > line_limit

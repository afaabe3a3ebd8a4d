"""A tiny aiosmtpd server on loopback whose manners a test can set and change:
require a login, refuse MAIL FROM, offer SMTPUTF8 or not, refuse everything
for now. The built-in sandbox always behaves; real servers do not."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from dataclasses import dataclass, field
from typing import Optional

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    mail_options: list[str]


@dataclass
class PickyServer:
    #: Offer SMTPUTF8 in EHLO (aiosmtpd then takes UTF-8 addresses).
    smtputf8: bool = False
    #: (user, password) to require a login (AUTH PLAIN/LOGIN, allowed without TLS); None: no login.
    login: Optional[tuple[str, str]] = None
    #: A reply to every MAIL FROM instead of accepting it, e.g. "550 5.7.1 Sender rejected".
    mail_reply: Optional[str] = None
    #: A reply to every DATA instead of accepting it, e.g. "451 4.3.0 Try again later".
    data_reply: Optional[str] = None
    received: list[Received] = field(default_factory=list)
    #: The name each connection gave in EHLO/HELO.
    ehlo_names: list[str] = field(default_factory=list)
    logins: int = 0
    port: int = 0
    #: Offer STARTTLS with this context (aiosmtpd's ``tls_context``).
    tls_context: Optional[ssl.SSLContext] = None
    _server: Optional[asyncio.AbstractServer] = None

    # aiosmtpd handler hooks --------------------------------------------------
    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        self.ehlo_names.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else b"")
        self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), raw,
                                      list(envelope.mail_options)))
        return "250 2.0.0 Accepted"

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: object) -> AuthResult:
        user = getattr(auth_data, "login", b"")
        password = getattr(auth_data, "password", b"")
        ok = self.login is not None and (user, password) == tuple(x.encode() for x in self.login)
        self.logins += ok
        return AuthResult(success=ok, handled=False)

    # life cycle --------------------------------------------------------------
    def _factory(self) -> SMTP:
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")  # on purpose here
        return SMTP(self, hostname="picky.test", enable_SMTPUTF8=self.smtputf8,
                    auth_required=self.login is not None, auth_require_tls=False,
                    authenticator=self._authenticate if self.login is not None else None,
                    tls_context=self.tls_context)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._factory, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def recipients(self) -> list[str]:
        return [r for m in self.received for r in m.rcpt_tos]

"""Sending over SMTP with aiosmtplib: settings, a small connection pool, a
rate limit, and a verdict on every failure.

The engine's outbox owns retries; this module tells it what happened.
Every failure is classified as transient (try again later: 4xx replies,
timeouts, a drop in the middle of DATA) or permanent (5xx: this message
will never be accepted), and by what it is about (``scope``):

- ``message``: this one message (a refused recipient, content the server
  rejects, an address that cannot be written for this server);
- ``server``: the server is away (cannot connect, 421, a 4xx greeting): the
  outbox pauses and probes it again within seconds;
- ``session``: the server refuses *us* (login required or refused, HELO or
  MAIL FROM rejected, STARTTLS missing, a certificate that does not verify,
  a password we will not send in clear): every message would fail the same
  way, so the outbox pauses with the reason and fails no lead.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from engine.delivery.send_rate import TokenBucket, backoff
from engine.delivery.smtp_outcome import (
    SENT,
    MessageProblem,
    PlainAuthRefused,
    SendOutcome,
    SessionRefused,
    classify,
)
from engine.delivery.smtp_password import redact_url
from engine.delivery.smtp_transaction import send_envelope

#: What callers import from here; the verdicts and the rate limit live in
#: ``smtp_outcome.py`` and ``send_rate.py``.
__all__ = ["DEFAULT_EHLO_NAME", "MessageProblem", "PlainAuthRefused", "SANDBOX_CONNECTIONS", "SENT", "SendOutcome", "Sender", "SessionRefused", "SmtpSettings", "SmtpUrlError", "TokenBucket", "backoff", "classify"]

#: The EHLO name when none is set: fixed, so no connection waits on a DNS
#: lookup of this machine (aiosmtplib would call ``socket.getfqdn()`` each time).
DEFAULT_EHLO_NAME = "localhost.localdomain"
#: The built-in sandbox is our own server on loopback: a wider pool costs nothing
#: and keeps both ends busy (1,639 sends/s over 16 connections, 1,325 over 8 and
#: about 900 over 3 on the 2-core bench machine); a real server keeps the polite
#: default of 3 unless its URL says ``connections=N``.
SANDBOX_CONNECTIONS = 16


class SmtpUrlError(ValueError):
    """An outgoing-server URL that cannot be used; the message says how to write one."""


_URL_HELP = (
    "Write it as smtp://user:password@host:port (STARTTLS when offered), smtp+starttls://... "
    "(STARTTLS required), smtps://... (TLS from the start), or the word sandbox."
)

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. ``start_tls=None`` upgrades when the server offers it."""

    host: str = "127.0.0.1"
    port: int = 25
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    use_tls: bool = False
    start_tls: Optional[bool] = None
    timeout: float = 30.0
    #: Messages per second across all connections; None sends as fast as the server takes them.
    rate_per_second: Optional[float] = None
    max_connections: int = 3
    #: True for the built-in sandbox; the caller fills in its port once it runs.
    sandbox: bool = False
    #: The name this machine gives in EHLO/HELO, on every connection.
    local_hostname: str = DEFAULT_EHLO_NAME
    #: A PEM file of CA certificates to verify the server with (None: the system's).
    ca_file: Optional[str] = None
    #: Send the login over a connection without TLS. Off unless asked for: a
    #: password in clear can be read by anyone on the way.
    allow_plain_auth: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """Parse ``smtp://``, ``smtp+starttls://``, ``smtps://`` or ``sandbox``.

        Query parameters ``rate``, ``connections`` and ``timeout`` set the
        rate limit (messages/second), pool size and timeout (seconds);
        ``ehlo`` the EHLO name, ``ca_file`` a CA bundle, and
        ``allow_plain_auth=1`` lets the password go over a connection without TLS.
        """
        text = url.strip()
        if text.lower() == "sandbox":
            return cls(host="127.0.0.1", port=0, start_tls=False, sandbox=True,
                       max_connections=SANDBOX_CONNECTIONS)
        url = redact_url(text)  # what the messages below show: never the password
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps", "smtp+starttls"):
            raise SmtpUrlError(f"Unknown outgoing server {url!r}. {_URL_HELP}")
        try:
            port = parts.port
        except ValueError:
            raise SmtpUrlError(f"The port in {url!r} is not a number. {_URL_HELP}") from None
        if not parts.hostname:
            raise SmtpUrlError(f"The outgoing server {url!r} has no host name. {_URL_HELP}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            rate = float(query["rate"]) if "rate" in query else None
            connections = int(query.get("connections", 3))
            timeout = float(query.get("timeout", 30))
        except ValueError:
            raise SmtpUrlError(f"rate, connections and timeout in {url!r} must be numbers.") from None
        if (rate is not None and rate <= 0) or connections < 1 or timeout <= 0:
            raise SmtpUrlError(f"rate, connections and timeout in {url!r} must be positive.")
        default_port = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}[scheme]
        ehlo = query.get("ehlo", "").strip() or DEFAULT_EHLO_NAME
        return cls(
            host=parts.hostname,
            port=port or default_port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            use_tls=scheme == "smtps",
            start_tls={"smtp": None, "smtps": False, "smtp+starttls": True}[scheme],
            timeout=timeout,
            rate_per_second=rate,
            max_connections=connections,
            local_hostname=ehlo,
            ca_file=query.get("ca_file") or None,
            allow_plain_auth=query.get("allow_plain_auth", "").lower() in _TRUE,
        )

    def with_port(self, port: int) -> SmtpSettings:
        return replace(self, port=port)

    def with_options(self, *, local_hostname: Optional[str] = None, ca_file: Optional[str] = None,
                     allow_plain_auth: Optional[bool] = None) -> SmtpSettings:
        """These settings with the CLI's or the app's options laid over the URL's (None: keep)."""
        changes: dict[str, Any] = {}
        if local_hostname:
            changes["local_hostname"] = local_hostname.strip()
        if ca_file:
            changes["ca_file"] = ca_file
        if allow_plain_auth is not None:
            changes["allow_plain_auth"] = allow_plain_auth
        return replace(self, **changes)


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO (HELO if the server does not know EHLO) unless this connection already did."""
    if not client.is_ehlo_or_helo_needed:
        return
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError as exc:
        if exc.code >= 500 and exc.code != 421:
            await client.helo()
        else:
            raise


class _Connection:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.last_used = 0.0


class Sender:
    """Sends messages over a few reused SMTP connections, within the rate limit.

    A connection is opened on first need and kept; one that was dropped
    (server restart, idle timeout) is replaced. After any failed send the
    connection is closed rather than trusted to be in a clean state.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        bucket: Optional[TokenBucket] = None,
        idle_check_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.sandbox and settings.port == 0:
            raise ValueError("start the sandbox first and pass settings.with_port(sandbox.port)")
        self.settings = settings
        self.bucket = bucket or (TokenBucket(settings.rate_per_second) if settings.rate_per_second else None)
        self.idle_check_after = idle_check_after
        self._clock = clock
        self._slots = asyncio.Semaphore(settings.max_connections)
        self._idle: list[_Connection] = []
        self._tls: Optional[ssl.SSLContext] = None
        self.connections_made = 0

    def _tls_context(self) -> Optional[ssl.SSLContext]:
        """One verifying context for every connection, with the CA bundle of the settings if any."""
        if self.settings.ca_file is None:
            return None
        if self._tls is None:
            try:
                self._tls = ssl.create_default_context(cafile=self.settings.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise SessionRefused(f"the CA bundle {self.settings.ca_file} cannot be read "
                                       f"({getattr(exc, 'strerror', None) or exc})") from None
        return self._tls

    def _new_client(self) -> aiosmtplib.SMTP:
        s = self.settings
        # The login is done by _ready, after checking the connection is encrypted.
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            timeout=s.timeout,
            local_hostname=s.local_hostname or DEFAULT_EHLO_NAME,
            tls_context=self._tls_context(),
        )

    async def _ready(self, conn: _Connection) -> None:
        """Make sure the connection is up (and logged in), probing it with NOOP after a quiet spell."""
        client = conn.client
        if client.is_connected and self._clock() - conn.last_used > self.idle_check_after:
            try:
                await client.noop()
            except aiosmtplib.SMTPException:
                client.close()
        if not client.is_connected:
            await client.connect()
            self.connections_made += 1
            await self._login(client)

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        s = self.settings
        if s.username is None:
            return
        await _greet(client)
        encrypted = client.get_transport_info("sslcontext") is not None
        if not encrypted and not s.allow_plain_auth:
            raise PlainAuthRefused(
                "the server offers no encryption (STARTTLS), so the password was not sent; use smtps:// or "
                "smtp+starttls://, or allow a password without encryption (allow_plain_auth=1) if this "
                "network is trusted")
        await client.login(s.username, s.password or "")

    async def send(self, message: EmailMessage) -> SendOutcome:
        """Send one message (envelope from its From and To); never raises for SMTP or network trouble."""
        return await self._transact(lambda client: client.send_message(message))

    async def send_raw(self, sender: str, recipients: Sequence[str], raw: bytes) -> SendOutcome:
        """Send an already rendered message, e.g. the bytes an outbox row keeps.

        Cheaper than :meth:`send`: the message is not parsed or flattened again.
        """
        return await self._transact(lambda client: send_envelope(client, sender, recipients, raw))

    async def send_built(self, build: Callable[[bool], tuple[str, list[str], bytes]]) -> SendOutcome:
        """Send a message whose addresses depend on the server: ``build(smtputf8)`` gets
        whether this connection's server offers SMTPUTF8 and returns (sender, recipients,
        bytes). It may raise :class:`MessageProblem` (a permanent failure of this message).
        Non-ASCII envelope addresses go with ``SMTPUTF8`` (RFC 6531)."""
        async def transaction(client: aiosmtplib.SMTP) -> tuple[dict[str, Any], str]:
            await _greet(client)  # what the server offers is known only after EHLO
            utf8 = client.supports_extension("smtputf8")
            sender, recipients, raw = build(utf8)
            ascii_only = sender.isascii() and all(r.isascii() for r in recipients) and raw.isascii()
            if ascii_only:
                options = []
            elif utf8:
                options = ["SMTPUTF8"] + (["BODY=8BITMIME"] if client.supports_extension("8bitmime") else [])
            else:
                raise MessageProblem("the message needs SMTPUTF8, which this server does not offer")
            return await send_envelope(client, sender, recipients, raw, options)

        return await self._transact(transaction)

    async def _transact(
        self, transaction: Callable[[aiosmtplib.SMTP], Awaitable[tuple[dict[str, Any], str]]]
    ) -> SendOutcome:
        if self.bucket is not None:
            await self.bucket.acquire()
        async with self._slots:
            conn: Optional[_Connection] = self._idle.pop() if self._idle else None
            try:
                if conn is None:
                    conn = _Connection(self._new_client())
                await self._ready(conn)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an outcome
                if conn is not None:
                    self._discard(conn)
                return classify(exc, connecting=True)
            try:
                errors, _reply = await transaction(conn.client)
            except MessageProblem as exc:  # found before anything was sent: the connection is fine
                conn.last_used = self._clock()
                self._idle.append(conn)
                return classify(exc)
            except Exception as exc:  # noqa: BLE001
                self._discard(conn)
                return classify(exc)
            conn.last_used = self._clock()
            self._idle.append(conn)
            if errors:  # some recipients refused: only possible with several recipients
                return classify(aiosmtplib.SMTPRecipientsRefused(
                    [aiosmtplib.SMTPRecipientRefused(r.code, r.message, addr) for addr, r in errors.items()]))
            return SENT

    def _discard(self, conn: _Connection) -> None:
        conn.client.close()

    async def close(self) -> None:
        """Say QUIT on every idle connection and forget them."""
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.client.quit()
            except Exception:  # noqa: BLE001 - closing anyway
                conn.client.close()

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

"""Sending over SMTP with aiosmtplib: settings, a small connection pool, a
rate limit, and a verdict on every failure.

The engine's outbox owns retries; this module tells it what happened.
Every failure is classified as transient (try again later: 4xx replies,
refused connections, timeouts, a drop in the middle of DATA) or permanent
(5xx: this message will never be accepted). Failures that are about the
server rather than the message (cannot connect, login refused, TLS not
offered) are marked ``scope="server"``, so the outbox can pause all
sending with a clear status instead of burning every message's retries.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import Any, Literal, Optional
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

Scope = Literal["message", "server"]


class SmtpUrlError(ValueError):
    """An outgoing-server URL that cannot be used; the message says how to write one."""


_URL_HELP = (
    "Write it as smtp://user:password@host:port (STARTTLS when offered), smtp+starttls://... "
    "(STARTTLS required), smtps://... (TLS from the start), or the word sandbox."
)


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. ``start_tls=None`` upgrades when the server offers it."""

    host: str = "127.0.0.1"
    port: int = 25
    username: Optional[str] = None
    password: Optional[str] = None
    use_tls: bool = False
    start_tls: Optional[bool] = None
    timeout: float = 30.0
    #: Messages per second across all connections; None sends as fast as the server takes them.
    rate_per_second: Optional[float] = None
    max_connections: int = 3
    #: True for the built-in sandbox; the caller fills in its port once it runs.
    sandbox: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        """Parse ``smtp://``, ``smtp+starttls://``, ``smtps://`` or ``sandbox``.

        Query parameters ``rate``, ``connections`` and ``timeout`` set the
        rate limit (messages/second), pool size and timeout (seconds).
        """
        text = url.strip()
        if text.lower() == "sandbox":
            return cls(host="127.0.0.1", port=0, start_tls=False, sandbox=True)
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
        )

    def with_port(self, port: int) -> SmtpSettings:
        return replace(self, port=port)


@dataclass(frozen=True)
class SendOutcome:
    """What became of one message. ``code`` is the SMTP reply code when there was one."""

    ok: bool
    permanent: bool = False
    code: Optional[int] = None
    error: Optional[str] = None
    scope: Scope = "message"

    @property
    def transient(self) -> bool:
        return not self.ok and not self.permanent


SENT = SendOutcome(ok=True, code=250)


def _by_code(code: int, text: str, scope: Scope = "message") -> SendOutcome:
    return SendOutcome(ok=False, permanent=500 <= code < 600, code=code, error=f"{code} {text}".strip(), scope=scope)


def classify(error: BaseException, *, connecting: bool = False) -> SendOutcome:
    """Transient or permanent, message or server, for any error a send can raise."""
    scope: Scope = "server" if connecting else "message"
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refusals = error.recipients or []
        codes = [r.code for r in refusals]
        code = min(codes) if codes else 550
        return _by_code(code, "; ".join(f"{r.recipient}: {r.message}" for r in refusals))
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        # The account, not the message: every send would fail the same way.
        return SendOutcome(False, False, error.code, f"login refused: {error.code} {error.message}", "server")
    if isinstance(error, aiosmtplib.SMTPResponseException):
        code = error.code
        if connecting or isinstance(error, (aiosmtplib.SMTPConnectResponseError, aiosmtplib.SMTPHeloError)):
            return SendOutcome(False, False, code, f"server refused the session: {code} {error.message}", "server")
        return _by_code(code, error.message)
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        return SendOutcome(False, False, None, f"server does not support what the settings ask: {error}", "server")
    if isinstance(error, (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return SendOutcome(False, False, None, f"timed out: {error}", scope)
    if isinstance(error, aiosmtplib.SMTPConnectError):
        return SendOutcome(False, False, None, f"cannot connect: {error}", "server")
    if isinstance(error, aiosmtplib.SMTPServerDisconnected):
        return SendOutcome(False, False, None, f"server disconnected: {error}", scope)
    if isinstance(error, ssl.SSLError):
        return SendOutcome(False, False, None, f"TLS failed: {error}", "server")
    if isinstance(error, OSError):
        return SendOutcome(False, False, None, f"network error: {error}", "server" if connecting else scope)
    if isinstance(error, (ValueError, aiosmtplib.SMTPException)):
        # e.g. a message with no recipient: sending it again cannot help.
        return SendOutcome(False, True, None, f"message cannot be sent: {error}", "message")
    return SendOutcome(False, False, None, f"{type(error).__name__}: {error}", scope)


def backoff(attempt: int, *, base: float = 30.0, cap: float = 3600.0, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = first retry).

    Exponential with full jitter (a uniform draw below ``base * 2**(attempt-1)``,
    capped), so that many messages failing together do not all come back at
    the same instant.
    """
    if attempt < 1:
        return 0.0
    ceiling = min(cap, base * 2 ** min(attempt - 1, 62))
    return ceiling * rng()


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``burst``.

    Waiters are served in arrival order (one lock), so the limit holds
    across concurrent senders. Clock and sleep are injectable so tests can
    check the schedule without waiting on the wall clock.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1


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
        self.connections_made = 0

    def _new_client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            timeout=s.timeout,
        )

    async def _ready(self, conn: _Connection) -> None:
        """Make sure the connection is up, probing it with NOOP after a quiet spell."""
        client = conn.client
        if client.is_connected and self._clock() - conn.last_used > self.idle_check_after:
            try:
                await client.noop()
            except aiosmtplib.SMTPException:
                client.close()
        if not client.is_connected:
            await client.connect()
            self.connections_made += 1

    async def send(self, message: EmailMessage) -> SendOutcome:
        """Send one message (envelope from its From and To); never raises for SMTP or network trouble."""
        return await self._transact(lambda client: client.send_message(message))

    async def send_raw(self, sender: str, recipients: Sequence[str], raw: bytes) -> SendOutcome:
        """Send an already rendered message, e.g. the bytes an outbox row keeps.

        Cheaper than :meth:`send`: the message is not parsed or flattened again.
        """
        return await self._transact(lambda client: client.sendmail(sender, list(recipients), raw))

    async def _transact(
        self, transaction: Callable[[aiosmtplib.SMTP], Awaitable[tuple[dict[str, Any], str]]]
    ) -> SendOutcome:
        if self.bucket is not None:
            await self.bucket.acquire()
        async with self._slots:
            conn = self._idle.pop() if self._idle else _Connection(self._new_client())
            try:
                await self._ready(conn)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an outcome
                self._discard(conn)
                return classify(exc, connecting=True)
            try:
                errors, _reply = await transaction(conn.client)
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

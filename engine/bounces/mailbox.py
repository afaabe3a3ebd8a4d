"""The bounce mailbox, read over IMAP by a supervised task of the engine process.

imaplib (the standard library's client, kept with Python) runs in a thread:
one poll is a handful of round trips every minute, no reason for an async
client. Each poll logs in, reads every unseen message with ``BODY.PEEK[]``
(so reading does not mark it), hands it to the policy, and only once the
policy has committed marks it ``\\Seen``: a poll that dies half-way leaves
the rest unseen for the next one, and a message read twice acts once (the
policy keeps its digest). Messages stay in the mailbox, read, as the
evidence behind every suppression.

A server that cannot be reached or refuses the login is not a crash: the
task keeps polling, and ``mailbranch status`` shows why the last poll
failed (``runtime_status`` row ``bounce-mailbox``).
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from engine.bounces.policy import Applied, BouncePolicy
from engine.bounces.settings import BounceMailboxSettings, is_loopback
from engine.runtime import status as runtime_status
from engine.store.database import Database

log = logging.getLogger("mailbranch.bounces")

STATUS_ROW = runtime_status.BOUNCE_MAILBOX
_TIMEOUT = 30.0
#: At most this many messages a poll: a flood of bounces is worked through over a few polls.
_BATCH = 500


class MailboxUnavailable(Exception):
    """The mailbox cannot be read now (server away, login refused); the message says which."""


@dataclass
class MailboxStatus:
    mailbox: str = ""
    state: str = "starting"  # starting | ok | failing
    last_poll_at: Optional[int] = None
    last_error: Optional[str] = None
    read: int = 0
    #: outcome -> count, since the engine started (failed, bounced, counted, suppressed...).
    outcomes: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"mailbox": self.mailbox, "state": self.state, "last_poll_at": self.last_poll_at,
                "last_error": self.last_error, "read": self.read, "outcomes": dict(self.outcomes)}


def _context(settings: BounceMailboxSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file else ssl.create_default_context()


def _connect(settings: BounceMailboxSettings) -> imaplib.IMAP4:
    try:
        if settings.tls == "ssl":
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(settings.host, settings.port, ssl_context=_context(settings),
                                                     timeout=_TIMEOUT)
        else:
            client = imaplib.IMAP4(settings.host, settings.port, timeout=_TIMEOUT)
            if "STARTTLS" in client.capabilities:
                client.starttls(_context(settings))
            elif not is_loopback(settings.host):
                client.shutdown()
                raise MailboxUnavailable(f"{settings.host} offers no STARTTLS, and the password would cross the "
                                         "network in clear; use imaps:// instead")
    except (OSError, imaplib.IMAP4.error) as exc:
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise MailboxUnavailable(f"the certificate of {settings.host} is not trusted ({exc.verify_message})"
                                     ) from None
        raise MailboxUnavailable(f"cannot reach {settings.host}:{settings.port} ({exc})") from None
    try:
        client.login(settings.username, settings.password or "")
    except imaplib.IMAP4.error as exc:
        client.shutdown()
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise MailboxUnavailable(f"{settings.host} refused the login of {settings.username} ({detail}); "
                                 "check the bounce mailbox password") from None
    status, _ = client.select(_quote(settings.folder))
    if status != "OK":
        client.logout()
        raise MailboxUnavailable(f"there is no folder {settings.folder!r} in the bounce mailbox")
    return client


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch_unseen(client: imaplib.IMAP4, limit: int = _BATCH) -> list[tuple[bytes, bytes]]:
    """(uid, raw message) of unseen messages, oldest first, without marking them."""
    status, data = client.uid("SEARCH", None, "UNSEEN")
    if status != "OK" or not data or not data[0]:
        return []
    found = []
    for uid in data[0].split()[:limit]:
        status, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
        raw = next((p[1] for p in parts or [] if isinstance(p, tuple) and len(p) == 2), None)
        if status == "OK" and raw is not None:
            found.append((uid, raw))
    return found


class BounceMailbox:
    """Polls the bounce mailbox and applies what it reads; ``run`` is the supervised task."""

    def __init__(self, db: Database, settings: BounceMailboxSettings, policy: BouncePolicy,
                 clock_ms: Callable[[], int]) -> None:
        self.db = db
        self.settings = settings
        self.policy = policy
        self.clock_ms = clock_ms
        self.status = MailboxStatus(mailbox=settings.describe())

    async def poll_once(self) -> list[Applied]:
        """One poll: every unseen message read, applied and marked seen. Raises MailboxUnavailable."""
        client = await asyncio.to_thread(_connect, self.settings)
        applied: list[Applied] = []
        try:
            for uid, raw in await asyncio.to_thread(fetch_unseen, client):
                result = await self.policy.apply(raw)
                await asyncio.to_thread(client.uid, "STORE", uid, "+FLAGS", "(\\Seen)")
                applied.append(result)
                self.status.read += 1
                self.status.outcomes[result.outcome] = self.status.outcomes.get(result.outcome, 0) + 1
        finally:
            await asyncio.to_thread(_logout, client)
        return applied

    async def run(self) -> None:
        """Poll every ``poll_seconds`` until cancelled; an unreachable mailbox is shown, not fatal."""
        while True:
            await self.poll_and_report()
            await asyncio.sleep(self.settings.poll_seconds)

    async def poll_and_report(self) -> list[Applied]:
        before = (self.status.state, self.status.last_error, self.status.read)
        try:
            applied = await self.poll_once()
        except MailboxUnavailable as exc:
            if self.status.last_error != str(exc):
                log.warning("the bounce mailbox cannot be read: %s", exc)
            self.status.state, self.status.last_error = "failing", str(exc)
            applied = []
        else:
            self.status.state, self.status.last_error = "ok", None
        self.status.last_poll_at = self.clock_ms()
        if (self.status.state, self.status.last_error, self.status.read) != before or applied:
            await asyncio.to_thread(self._save)
        return applied

    def _save(self) -> None:
        runtime_status.ensure_table(self.db)
        with self.db.session() as s:
            runtime_status.save(s, STATUS_ROW, self.status.as_json(), self.clock_ms())


def _logout(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (TimeoutError, OSError, imaplib.IMAP4.error):
        pass


def bounce_mailbox_for(runner, settings: BounceMailboxSettings) -> BounceMailbox:
    """The reader of a campaign runner's bounce mailbox: its database, VERP secret, sink and wake-up."""
    policy = BouncePolicy(runner.db, runner.tokens.verp, runner.clock.now, sink=runner.sink, on_events=runner.wake)
    if runner.settings.distributed:  # the workers play the events: wake the one of the lead's shard
        policy.on_written = runner._wake_workers
    return BounceMailbox(runner.db, settings, policy, runner.clock.now)


def supervise_bounce_mailbox(supervisor, runner, settings: Optional[BounceMailboxSettings]
                             ) -> Optional[BounceMailbox]:
    """Start polling the bounce mailbox as the supervised task ``bounce mailbox`` (none configured: nothing)."""
    if settings is None:
        return None
    from engine.bounces.settings import with_password

    mailbox = bounce_mailbox_for(runner, with_password(settings))
    supervisor.start("bounce mailbox", mailbox.run)
    return mailbox

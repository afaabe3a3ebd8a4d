"""``mailbranch relay``: the tracking routes on a public host, and the sync routes the desktop pulls.

The relay is the local tracking server's app (``tracking_server.build_app``:
the same pixel, click redirect, unsubscribe page and one-click POST, the
same signature checks and request rules for machine events) with a sink
that writes to the relay's own log instead of a campaign database. Every
answer comes from the signed token alone, so the relay needs the
installation's tracking secret but no lead, no send and no campaign: a
forged token gets nothing, a genuine click is redirected to its own link.

Two more routes serve the desktop, with the per-installation sync secret as
a bearer token (a different secret from the tracking one: leaking either
does not give the other):

- ``GET /sync/events?after=ID&limit=N``: events after the cursor, oldest
  first; asking for ``after=ID`` acknowledges everything up to ID.
- ``GET /sync/status``: the last pull and the events still waiting.

In scale-out mode (``--engine-db postgresql://...``) the sink is instead the
engine's own, on the PostgreSQL database: events go straight into the event
queue and wake the workers, and there is nothing to sync.
"""

from __future__ import annotations

import hmac
import logging
import ssl
from pathlib import Path
from typing import Optional, Union

from aiohttp import web

from engine.delivery.http_guard import GuardedSite, RejectionLog, ServerLimits, start_guarded
from engine.delivery.tracking_server import (
    REJECTIONS,
    Counters,
    TrackingSink,
    build_app,
    wall_clock_ms,
)
from engine.delivery.tracking_tokens import Id, TrackingTokens
from engine.relay.store import RelayStore
from engine.tracking.machine import MachineRules

log = logging.getLogger("mailbranch.relay")

STORE = web.AppKey("relay_store", RelayStore)
SYNC_SECRET = web.AppKey("sync_secret", bytes)
MAX_BATCH = 10_000


class RelaySink:
    """Implements ``TrackingSink`` by writing to the relay's log; the desktop decides
    later whether the campaign and send are its own (a foreign token records nothing there).

    An event is accepted in memory and committed with the others of its
    interval (``store.py``): the request does not wait for the disk."""

    def __init__(self, store: RelayStore) -> None:
        self.store = store

    async def record_open(self, campaign: Optional[str], send_id: Id, at: int,
                          machine: Optional[str] = None) -> bool:
        self.store.put(("open", campaign, str(send_id), None, None, at, machine))
        return True

    async def record_click(self, campaign: Optional[str], send_id: Id, url: str, at: int,
                           machine: Optional[str] = None) -> bool:
        self.store.put(("click", campaign, str(send_id), url, None, at, machine))
        return True

    async def unsubscribe(self, campaign: Optional[str], lead_id: Id, email: Optional[str]) -> str:
        if not email:
            return "unknown"  # a release 0.1 link: it names no address the desktop could suppress
        # Not buffered: the page says "you are unsubscribed" only once that is on disk.
        await self.store.put_committed(("unsubscribe", campaign, str(lead_id), None, email, wall_clock_ms(), None))
        return "unsubscribed"


def _authorised(request: web.Request) -> bool:
    header = request.headers.get("Authorization", "")
    given = header[7:].strip().encode() if header.startswith("Bearer ") else b""
    ok = hmac.compare_digest(given, request.app[SYNC_SECRET])
    if not ok:
        request.app[REJECTIONS].note("sync-secret", "a sync request with a wrong or missing secret was refused")
    return ok


def _number(request: web.Request, name: str, default: int) -> Optional[int]:
    text = request.query.get(name, str(default))
    return int(text) if text.isdigit() and len(text) < 19 else None


async def sync_events(request: web.Request) -> web.Response:
    if not _authorised(request):
        return web.json_response({"error": "wrong sync secret"}, status=401)
    after, limit = _number(request, "after", 0), _number(request, "limit", 5000)
    if after is None or limit is None or limit < 1:
        return web.json_response({"error": "after and limit must be whole numbers"}, status=400)
    store = request.app[STORE]
    await store.flush()  # every event answered before this pull is in it
    watermark = store.complete_before()  # read before the events: none older can still arrive
    rows = await _in_thread(store.after, after, min(limit, MAX_BATCH))
    await _in_thread(store.acknowledge, after, wall_clock_ms())
    last = rows[-1][0] if rows else after
    waiting = await _in_thread(store.waiting, last)
    return web.json_response({"relay": store.uid, "events": rows, "last": last, "waiting": waiting,
                              "complete_before": watermark})


async def sync_status(request: web.Request) -> web.Response:
    if not _authorised(request):
        return web.json_response({"error": "wrong sync secret"}, status=401)
    store = request.app[STORE]
    await store.flush()  # "events waiting" counts the ones answered a moment ago
    return web.json_response({**await _in_thread(store.status), "now": wall_clock_ms()})


async def _drain_store(app: web.Application) -> None:
    await app[STORE].drain()


async def _in_thread(function, *args):
    import asyncio

    return await asyncio.to_thread(function, *args)


def build_relay_app(tokens: TrackingTokens, sink: TrackingSink, *, store: Optional[RelayStore] = None,
                    sync_secret: Optional[bytes] = None, counters: Optional[Counters] = None,
                    rules: Optional[MachineRules] = None, trust_forwarded: bool = False) -> web.Application:
    app = build_app(tokens, sink, counters=counters, rules=rules, trust_forwarded=trust_forwarded)
    if store is not None:
        if not sync_secret or len(sync_secret) < 32:
            raise ValueError("the relay needs the installation's sync secret (32 characters or more)")
        app[STORE] = store
        app[SYNC_SECRET] = sync_secret
        app.on_cleanup.append(_drain_store)  # after the last request: commit what is still buffered
        app.router.add_get("/sync/events", sync_events, allow_head=False)
        app.router.add_get("/sync/status", sync_status, allow_head=False)
    return app


def tls_context(cert: Union[str, Path], key: Union[str, Path]) -> ssl.SSLContext:
    """A server context from PEM files (a certificate chain and its private key)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


class _TlsGuardedSite(GuardedSite):
    """``GuardedSite`` (header timeout, connection cap) speaking TLS."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard, context: ssl.SSLContext) -> None:
        super().__init__(runner, host, port, guard)
        self._tls = context

    async def start(self) -> None:
        import asyncio

        await web.BaseSite.start(self)
        server = self._runner.server
        self.guard.fit_to_open_file_limit()
        self._server = await asyncio.get_running_loop().create_server(
            self.guard.factory(server), self._host, self._port, backlog=self._backlog, ssl=self._tls,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


class RelayServer:
    """The relay app on its host and port, plain HTTP (behind a proxy) or TLS."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0,
                 limits: ServerLimits = ServerLimits(), tls: Optional[ssl.SSLContext] = None) -> None:
        self.app, self.host, self.port, self.limits, self.tls = app, host, port, limits, tls
        self.rejections: RejectionLog = app[REJECTIONS]
        self._runner: Optional[web.AppRunner] = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        if self.tls is None:
            self._runner = await start_guarded(self.app, self.host, self.port, self.limits, self.rejections,
                                               "mailbranch.relay.http")
        else:
            from engine.delivery.http_guard import ConnectionGuard, quiet_logger

            runner = web.AppRunner(self.app, access_log=None, **self.limits.handler_args(
                quiet_logger("mailbranch.relay.http", self.rejections)))
            await runner.setup()
            try:
                await _TlsGuardedSite(runner, self.host, self.port, ConnectionGuard(self.limits, self.rejections),
                                      self.tls).start()
            except OSError:
                await runner.cleanup()
                raise
            self._runner = runner
        self.port = self._runner.addresses[0][1]
        log.info("relay listening on %s", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            self.rejections.flush()

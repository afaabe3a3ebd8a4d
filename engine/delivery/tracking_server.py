"""The tracking server: the pixel, the click redirect and the unsubscribe page.

It serves nothing else (every other path or method is a 404). Tokens are
checked by signature before anything else, so a forged or damaged request
costs no database work and changes nothing; it is counted in ``rejected``.
What a genuine request means is decided by a sink (the engine's event
handling), which may still say that the token's campaign or send is not
one of this database's (a *foreign* token: an email of an older campaign or
of another database, counted in ``foreign`` and ``rejected``).

The pixel always answers 200 with the GIF, so a mail client never shows a
broken image; a click answers 302 only to the URL signed into its token
(never an open redirect; a foreign click still goes to its own email's
link), otherwise 404. An unsubscribe is honoured for the address its token
carries, foreign or not.
"""

from __future__ import annotations

import base64
import html
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional, Protocol

from aiohttp import web

from engine.delivery.errors import CannotListen
from engine.delivery.http_guard import RejectionLog, ServerLimits, start_guarded
from engine.delivery.tracking_tokens import Id, TrackingTokens
from engine.tracking.machine import MachineRules, default_rules

log = logging.getLogger(__name__)

PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


class TrackingSink(Protocol):
    """Where genuine events go.

    ``campaign`` is the uid the token carries (None for a release 0.1 token).
    Opens and clicks return False when the campaign or send is not here;
    ``unsubscribe`` returns ``"unsubscribed"`` (recorded in its campaign),
    ``"suppressed"`` (campaign not here: only the address was suppressed) or
    ``"unknown"`` (no address to suppress). ``at`` is milliseconds since the
    Unix epoch, the engine's unit. ``machine`` (passed only for a machine's
    event) says why the request is taken for a machine's.
    """

    async def record_open(self, campaign: Optional[str], send_id: Id, at: int,
                          machine: Optional[str] = None) -> bool: ...

    async def record_click(self, campaign: Optional[str], send_id: Id, url: str, at: int,
                           machine: Optional[str] = None) -> bool: ...

    async def unsubscribe(self, campaign: Optional[str], lead_id: Id, email: Optional[str]) -> str: ...


@dataclass
class Counters:
    opens: int = 0
    clicks: int = 0
    unsubscribes: int = 0
    rejected: int = 0
    #: Genuine tokens of a campaign that is not here (also counted in ``rejected``).
    foreign: int = 0
    sink_errors: int = 0
    #: Opens and clicks the request rules took for a machine's (also counted in ``opens``/``clicks``).
    machine: int = 0


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


TOKENS = web.AppKey("tokens", TrackingTokens)
SINK = web.AppKey("sink", TrackingSink)
COUNTERS = web.AppKey("counters", Counters)
CLOCK = web.AppKey("clock", Callable[[], int])
REJECTIONS = web.AppKey("rejections", RejectionLog)
RULES = web.AppKey("rules", MachineRules)
#: Behind a reverse proxy: the client's address is the last one in X-Forwarded-For.
FORWARDED = web.AppKey("forwarded", bool)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='robots' content='noindex'><title>{html.escape(title)}</title></head>"
        "<body style='font-family:sans-serif;max-width:32em;margin:4em auto;padding:0 1em'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=text, status=status, content_type="text/html", headers=_NO_STORE)


def _not_found(request: web.Request) -> web.Response:
    request.app[COUNTERS].rejected += 1
    return _page("Link not found", "<p>This link is not valid.</p>", status=404)


def _foreign(request: web.Request) -> None:
    counters = request.app[COUNTERS]
    counters.foreign += 1
    counters.rejected += 1


async def _ask_sink(request: web.Request, call: str, *args: object, **kwargs: object) -> Optional[object]:
    """The sink's answer, or None if it failed (logged and counted, never shown)."""
    try:
        return await getattr(request.app[SINK], call)(*args, **kwargs)
    except Exception as exc:
        # Under a database outage every request fails alike: one traceback, then a count a minute.
        request.app[REJECTIONS].note(f"sink:{call}", f"tracking sink failed in {call} ({type(exc).__name__})", exc)
        request.app[COUNTERS].sink_errors += 1
        return None


def client_address(request: web.Request) -> Optional[str]:
    """The reader's address: the peer, or behind a trusted proxy the address it forwarded."""
    if request.app[FORWARDED]:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.remote


def machine_reason(request: web.Request, app: Optional[web.Application] = None) -> Optional[str]:
    """Why this request is a machine's (the request rules), or None for a reader's."""
    return (app or request.app)[RULES].classify_request(request.method, request.headers.get("User-Agent"),
                                                        client_address(request))


def _machine_args(request: web.Request, app: web.Application) -> dict[str, str]:
    reason = machine_reason(request, app)
    return {"machine": reason} if reason else {}


async def pixel(request: web.Request) -> web.Response:
    app = request.app  # a property lookup each time: every pixel and click is on the hot path
    claim = app[TOKENS].read_open(request.match_info["token"])
    if claim is None:
        app[COUNTERS].rejected += 1
    else:
        at = app[CLOCK]()
        extra = _machine_args(request, app)
        accepted = await _ask_sink(request, "record_open", claim.campaign_uid, claim.send_id, at, **extra)
        if accepted:
            app[COUNTERS].opens += 1
            app[COUNTERS].machine += bool(extra)
        elif accepted is False:
            _foreign(request)
    return web.Response(body=PIXEL_GIF, content_type="image/gif", headers=_NO_STORE)


async def click(request: web.Request) -> web.Response:
    app = request.app
    claim = app[TOKENS].read_click(request.match_info["token"])
    if claim is None:
        return _not_found(request)
    at = app[CLOCK]()
    extra = _machine_args(request, app)
    accepted = await _ask_sink(request, "record_click", claim.campaign_uid, claim.send_id, claim.url, at, **extra)
    # The URL was signed into this email's token: safe to send the reader on,
    # even if recording failed (the reader should not pay for our outage) or
    # the email belongs to a campaign that is not here (an old email's link
    # keeps working, and records nothing in any campaign).
    if accepted:
        app[COUNTERS].clicks += 1
        app[COUNTERS].machine += bool(extra)
    elif accepted is False:
        _foreign(request)
    raise web.HTTPFound(claim.url, headers=_NO_STORE)


async def unsubscribe_page(request: web.Request) -> web.Response:
    """A page with a button: a GET must not unsubscribe (link scanners follow links)."""
    if request.app[TOKENS].read_unsubscribe(request.match_info["token"]) is None:
        return _not_found(request)
    form = (
        "<p>Click the button to stop receiving these emails.</p>"
        "<form method='post'><input type='hidden' name='List-Unsubscribe' value='One-Click'>"
        "<button type='submit'>Unsubscribe</button></form>"
    )
    return _page("Unsubscribe", form)


async def unsubscribe(request: web.Request) -> web.Response:
    """RFC 8058 one-click (``List-Unsubscribe=One-Click``) and the page's button."""
    claim = request.app[TOKENS].read_unsubscribe(request.match_info["token"])
    if claim is None:
        return _not_found(request)
    outcome = await _ask_sink(request, "unsubscribe", claim.campaign_uid, claim.lead_id, claim.email)
    if outcome is None:
        return _page("Please try again", "<p>We could not record your request just now.</p>", status=503)
    if outcome not in ("unsubscribed", "suppressed"):
        # A release 0.1 link of a campaign that is not here: it names no address.
        _foreign(request)
        return _page("Link expired", "<p>This unsubscribe link is from an older email and no longer says which "
                     "address it was for. Please use the link in a more recent email, or reply to the sender "
                     "and ask to be removed.</p>", status=410)
    if outcome == "suppressed":
        _foreign(request)
    request.app[COUNTERS].unsubscribes += 1
    return _page("You are unsubscribed", "<p>You will not receive these emails any more.</p>")


@web.middleware
async def only_known_routes(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Anything but the routes above is a plain 404, including a wrong method."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed:
        raise web.HTTPNotFound() from None


def build_app(
    tokens: TrackingTokens, sink: TrackingSink, *, counters: Optional[Counters] = None,
    clock: Callable[[], int] = wall_clock_ms, rules: Optional[MachineRules] = None,
    trust_forwarded: bool = False,
) -> web.Application:
    app = web.Application(middlewares=[only_known_routes], client_max_size=64 * 1024)
    app[RULES] = rules or default_rules()
    app[FORWARDED] = trust_forwarded
    app[TOKENS] = tokens
    app[SINK] = sink
    app[COUNTERS] = counters or Counters()
    app[CLOCK] = clock
    app[REJECTIONS] = RejectionLog(log, "tracking server")
    # HEAD is answered like GET (a link checker must not see a broken link) and,
    # by the rules, recorded as a machine's event: no reader sends one.
    app.router.add_get("/o/{token}.gif", pixel)
    app.router.add_get("/c/{token}", click)
    app.router.add_get("/u/{token}", unsubscribe_page)
    app.router.add_post("/u/{token}", unsubscribe)
    return app


class TrackingServer:
    """The tracking app on its own host and port, started and stopped from a running loop."""

    def __init__(
        self,
        tokens: TrackingTokens,
        sink: TrackingSink,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: Optional[str] = None,
        clock: Callable[[], int] = wall_clock_ms,
        limits: ServerLimits = ServerLimits(),
        rules: Optional[MachineRules] = None,
        trust_forwarded: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self._public_url = public_url.rstrip("/") if public_url else None
        self.counters = Counters()
        self.app = build_app(tokens, sink, counters=self.counters, clock=clock, rules=rules,
                             trust_forwarded=trust_forwarded)
        self._runner: Optional[web.AppRunner] = None
        #: Header and keep-alive timeouts and the connection cap (see ``http_guard``).
        self.limits = limits
        #: Connections refused, evicted or timed out, malformed requests and sink failures, by kind.
        self.rejections = self.app[REJECTIONS]

    @property
    def public_url(self) -> str:
        """The base every tracked link uses: set for a deployment behind a proxy,
        otherwise the address the server listens on."""
        if self._public_url:
            return self._public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @public_url.setter
    def public_url(self, value: Optional[str]) -> None:
        self._public_url = value.rstrip("/") if value else None

    @property
    def rejected(self) -> int:
        """Requests with a forged, damaged or unknown token."""
        return self.counters.rejected

    async def start(self) -> None:
        if self._runner is not None:
            return
        try:
            runner = await start_guarded(self.app, self.host, self.port, self.limits, self.rejections,
                                         f"{__name__}.http")
        except OSError as exc:
            raise CannotListen(
                f"The tracking server cannot listen on {self.host}:{self.port} ({exc.strerror or exc}). "
                "Choose another --tracking-port or stop the program using it."
            ) from exc
        self._runner = runner
        self.port = runner.addresses[0][1]  # the real port when 0 was asked for
        log.info("tracking server listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            self.rejections.flush()

    async def __aenter__(self) -> TrackingServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

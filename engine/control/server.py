"""The control API of the engine process: loopback only, one secret per launch.

The app starts the engine process with a fresh random secret and talks to
it over this small JSON API; nothing answers without ``Authorization:
Bearer <secret>``, it never listens beyond 127.0.0.1, and it is never on the
tracking port. Handlers are small and hand the work to ``EngineService``.
Connections pass through ``http_guard`` (header and keep-alive timeouts, a
cap, quiet logs) like the tracking server's: a local user must not be able
to stall the app's engine by holding connections open.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Optional

from aiohttp import web

from engine.control import versions
from engine.control.requests import (
    Addresses,
    BadRequest,
    CsvText,
    EventCommand,
    SetSpeed,
    StartCampaign,
    query_int,
)
from engine.control.service import EngineService, ServiceError
from engine.delivery.http_guard import RejectionLog, ServerLimits, start_guarded
from engine.flow.fileformat import FlowFileError

log = logging.getLogger("mailbranch.control")

SERVICE = web.AppKey("service", EngineService)
SECRET = web.AppKey("secret", str)
ON_SHUTDOWN = web.AppKey("on_shutdown", Callable)
REJECTIONS = web.AppKey("rejections", RejectionLog)
#: The app polls with kept-alive connections its client keeps 15 s: the server keeps them longer,
#: so the client never reuses one the server has just closed.
LIMITS = ServerLimits(header_timeout=10.0, keepalive_timeout=75.0, max_connections=256)


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


@web.middleware
async def guard(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Secret first; then a refusal is a 400 with the engine's sentence, and anything
    else that goes wrong is a bug: logged with its traceback, answered with a 500."""
    if not _authorised(request):
        request.app[REJECTIONS].note("secret", "refused a request without the right secret (403)")
        return _json({"error": "not allowed"}, 403)
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except BadRequest as exc:
        return _json({"error": str(exc), "field": exc.field}, 400)
    except (ServiceError, FlowFileError) as exc:
        return _json({"error": str(exc)}, 400)
    except RecursionError:  # JSON nested thousands deep: Python's parser gives up, the engine does not
        return _json({"error": "bad request: the JSON is nested too deeply"}, 400)
    except Exception:
        log.exception("control API: %s %s failed", request.method, request.path)
        return _json({"error": "the engine failed to do this (a bug; the details are in the engine's log)"}, 500)


async def _text(request: web.Request) -> str:
    """The request's body as text (UTF-8, whatever the header claims: the app sends nothing else)."""
    raw = await request.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest("body", f"not UTF-8 text (byte {exc.start + 1})") from None


async def _body(request: web.Request) -> object:
    """The request's JSON body (an empty body reads as ``{}``)."""
    if not request.can_read_body:
        return {}
    text = await _text(request)
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest("body", f"not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None


def _authorised(request: web.Request) -> bool:
    """True only for ``Authorization: Bearer <secret>``; any other value, whatever its bytes, is False.

    aiohttp hands over non-ASCII header bytes as text with surrogate escapes;
    they are compared as the bytes they were, never allowed to raise.
    """
    given = request.headers.get("Authorization", "")
    try:
        raw = given.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(raw, f"Bearer {request.app[SECRET]}".encode())


def _service(request: web.Request) -> EngineService:
    return request.app[SERVICE]


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])  # the route only matches digits


async def health(request: web.Request) -> web.Response:
    return _json(_service(request).health())


async def list_campaigns(request: web.Request) -> web.Response:
    return _json(_service(request).campaigns())


async def start_campaign(request: web.Request) -> web.Response:
    command = StartCampaign.from_json(await _body(request))
    return _json({"id": _service(request).launch(command)}, 201)


async def figures(request: web.Request) -> web.Response:
    return _json(_service(request).figures(_id(request)))


async def control(request: web.Request) -> web.Response:
    service, campaign_id, action = _service(request), _id(request), request.match_info["action"]
    if action == "pause":
        service.set_paused(campaign_id, True)
    elif action == "resume":
        service.set_paused(campaign_id, False)
    elif action == "speed":
        service.set_speed(campaign_id, SetSpeed.from_json(await _body(request)).speed)
    elif action == "skip":
        return _json({"now": service.skip_to_next_timer(campaign_id)})
    elif action == "stop":
        service.stop_campaign(campaign_id)
    else:
        raise web.HTTPNotFound()
    return _json({"ok": True})


async def leads(request: web.Request) -> web.Response:
    q = request.query
    return _json(_service(request).leads(_id(request), query_int(q, "offset", 0, 10**9),
                                         query_int(q, "limit", 200, 10_000), q.get("q", "")))


async def timeline(request: web.Request) -> web.Response:
    return _json(_service(request).timeline(_id(request), request.match_info["lead"]))


async def record_event(request: web.Request) -> web.Response:
    """A simulated open or click (``machine: true`` for a machine's), or a conversion from outside."""
    command = EventCommand.from_json(await _body(request))
    event = await _service(request).record_event(_id(request), command)
    return _json({"recorded": True, "event": event.as_json()})


async def conversions(request: web.Request) -> web.Response:
    """A CSV of converted leads' keys, as ``{"csv": "..."}`` or the body itself (``text/csv``)."""
    text = CsvText.from_json(await _body(request)).csv if request.content_type == "application/json" else \
        await _text(request)
    return _json((await _service(request).convert_csv(_id(request), text)).as_json())


async def series(request: web.Request) -> web.Response:
    return _json(_service(request).series(_id(request)))


async def export(request: web.Request) -> web.Response:
    per = request.query.get("per", "lead")
    if per not in ("lead", "node"):
        raise BadRequest("per", "must be lead or node")
    return web.Response(text=_service(request).export_csv(_id(request), per), content_type="text/csv")


async def mailbox(request: web.Request) -> web.Response:
    q = request.query
    return _json(_service(request).mailbox(query_int(q, "limit", 100, 10_000), query_int(q, "offset", 0, 10**9),
                                           q.get("to") or None))


async def message(request: web.Request) -> web.Response:
    return _json(_service(request).message(int(request.match_info["mid"])))


async def metrics(request: web.Request) -> web.Response:
    from engine.observe.metrics import METRICS

    body = await asyncio.to_thread(METRICS.exposition)
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


async def list_suppressions(request: web.Request) -> web.Response:
    q = request.query
    return _json(_service(request).suppressions(q.get("q", ""), query_int(q, "offset", 0, 10**9),
                                                query_int(q, "limit", 500, 10_000)))


async def add_suppressions(request: web.Request) -> web.Response:
    command = Addresses.from_json(await _body(request), with_note=True)
    return _json(_service(request).suppress(command.emails, command.note))


async def remove_suppressions(request: web.Request) -> web.Response:
    return _json(_service(request).unsuppress(Addresses.from_json(await _body(request)).emails))


async def export_suppressions(request: web.Request) -> web.Response:
    return web.Response(text=_service(request).export_suppressions(), content_type="text/csv")


async def import_suppressions(request: web.Request) -> web.Response:
    """A CSV as ``{"csv": "..."}``, or as the request body itself (``text/csv``)."""
    if request.content_type == "application/json":
        text = CsvText.from_json(await _body(request)).csv
    else:
        text = await _text(request)
    return _json(_service(request).import_suppressions(text))


async def shutdown(request: web.Request) -> web.Response:
    request.app[ON_SHUTDOWN]()
    return _json({"ok": True})


def build_app(service: EngineService, secret: str, on_shutdown: Callable[[], None]) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=64 * 1024 * 1024)
    app[SERVICE], app[SECRET], app[ON_SHUTDOWN] = service, secret, on_shutdown
    app[REJECTIONS] = RejectionLog(log, "control API")
    r = app.router
    r.add_get("/health", health)
    r.add_get("/campaigns", list_campaigns)
    r.add_post("/campaigns", start_campaign)
    r.add_get("/campaigns/{id:\\d+}", figures)
    r.add_post("/campaigns/{id:\\d+}/{action:(pause|resume|speed|skip|stop)}", control)
    r.add_get("/campaigns/{id:\\d+}/leads", leads)
    r.add_get("/campaigns/{id:\\d+}/leads/{lead}", timeline)
    r.add_post("/campaigns/{id:\\d+}/events", record_event)
    r.add_post("/campaigns/{id:\\d+}/conversions", conversions)
    r.add_get("/campaigns/{id:\\d+}/series", series)
    r.add_get("/campaigns/{id:\\d+}/export", export)
    r.add_get("/mailbox", mailbox)
    r.add_get("/mailbox/{mid:\\d+}", message)
    r.add_get("/metrics", metrics)
    r.add_get("/suppressions", list_suppressions)
    r.add_post("/suppressions", add_suppressions)
    r.add_post("/suppressions/remove", remove_suppressions)
    r.add_get("/suppressions/export", export_suppressions)
    r.add_post("/suppressions/import", import_suppressions)
    r.add_post("/shutdown", shutdown)
    versions.add_routes(r)  # changing a running campaign: preview, publish, versions, rollback
    return app


class ControlServer:
    """Serves the API on 127.0.0.1 (port 0: pick a free one, then read ``port``)."""

    def __init__(self, service: EngineService, secret: str, port: int = 0,
                 on_shutdown: Optional[Callable[[], None]] = None) -> None:
        self.service = service
        self.secret = secret
        self.port = port
        self.app = build_app(service, secret, on_shutdown or (lambda: None))
        self._runner: Optional[web.AppRunner] = None

    async def start(self) -> None:
        # The app polls every half second; on shutdown, do not wait a minute for those requests.
        self._runner = await start_guarded(self.app, "127.0.0.1", self.port, LIMITS, self.app[REJECTIONS],
                                           f"{log.name}.http", shutdown_timeout=2.0)
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.app[REJECTIONS].flush()

"""Control API routes for changing a running campaign (SEMANTICS 11): the app's
'changes not published' bar asks for the impact, publishes, lists versions,
opens one read-only and publishes one back.

    POST /campaigns/{id}/versions/preview  {"flow": {...}, "map": {"w1": "w9"}}
    POST /campaigns/{id}/versions          {"flow": {...}, "map": {...}, "note": "...", "base_version": 2}
    GET  /campaigns/{id}/versions
    GET  /campaigns/{id}/versions/{n}
    POST /campaigns/{id}/versions/{n}/rollback  {"map": {...}, "note": "..."}

Both the preview and the publish run on the campaign's own clock (a
simulation's clock in the app), in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Optional

from aiohttp import web

from engine.control.requests import BadRequest, body_object, text
from engine.flow.fileformat import FlowFileError, loads_flow
from engine.run.clock import Clock, SystemClock
from engine.versions.impact import preview
from engine.versions.plan import PlanError
from engine.versions.publish import PublishError, publish
from engine.versions.store import version, versions


@dataclass(frozen=True)
class PublishCommand:
    flow: Optional[dict[str, Any]]
    mapping: dict[str, str]
    note: Optional[str]
    base_version: Optional[int]

    @classmethod
    def from_json(cls, body: Any, needs_flow: bool = True) -> PublishCommand:
        body = body_object(body)
        flow = body.get("flow")
        if needs_flow and not isinstance(flow, dict):
            raise BadRequest("flow", "required: the edited flow document (a JSON object)")
        mapping = body.get("map") or {}
        if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in mapping.items()):
            raise BadRequest("map", "must map each removed node to a node of the new version or 'finish'")
        base = body.get("base_version")
        if base is not None and (not isinstance(base, int) or isinstance(base, bool)):
            raise BadRequest("base_version", "must be a version number")
        return cls(flow if needs_flow else None, dict(mapping), text(body, "note", required=False, max_length=500),
                   base)


def _campaign(request: web.Request) -> tuple[Any, int, Clock]:
    from engine.control.server import SERVICE

    service = request.app[SERVICE]
    campaign_id = int(request.match_info["id"])
    handle = service.handles.get(campaign_id)
    return service, campaign_id, handle.engine.clock if handle is not None else SystemClock()


async def _json_body(request: web.Request) -> Any:
    from engine.control.server import _body

    return await _body(request)


def _flow(data: dict[str, Any]):
    try:
        return loads_flow(json.dumps(data))
    except FlowFileError as exc:
        raise BadRequest("flow", str(exc)) from None


async def _run(call, *args, **kwargs):
    from engine.control.service import ServiceError

    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except (PublishError, PlanError, LookupError) as exc:
        raise ServiceError(str(exc)) from None


def _published(result) -> dict[str, Any]:
    return {"version": result.number, "published_at": result.published_at, "changes": result.changes}


async def preview_version(request: web.Request) -> web.Response:
    service, campaign_id, clock = _campaign(request)
    command = PublishCommand.from_json(await _json_body(request))
    impact = await _run(preview, service.db, campaign_id, _flow(command.flow), command.mapping, clock=clock)
    return web.json_response(impact.as_json())


async def publish_version(request: web.Request) -> web.Response:
    service, campaign_id, clock = _campaign(request)
    command = PublishCommand.from_json(await _json_body(request))
    result = await _run(publish, service.db, campaign_id, _flow(command.flow), mapping=command.mapping,
                        note=command.note, clock=clock, base_version=command.base_version)
    return web.json_response(_published(result))


async def list_versions(request: web.Request) -> web.Response:
    service, campaign_id, _clock = _campaign(request)
    rows = await _run(versions, service.db, campaign_id)
    return web.json_response([{**r.as_json(), "did": r.did()} for r in rows])


async def show_version(request: web.Request) -> web.Response:
    service, campaign_id, _clock = _campaign(request)
    found = await _run(version, service.db, campaign_id, int(request.match_info["n"]))
    if found is None:
        return web.json_response({"error": f"campaign {campaign_id} has no version {request.match_info['n']}"},
                                 status=404)
    return web.json_response({**found.as_json(), "flow": json.loads(found.flow_json), "read_only": True})


async def rollback_version(request: web.Request) -> web.Response:
    service, campaign_id, clock = _campaign(request)
    number = int(request.match_info["n"])
    command = PublishCommand.from_json(await _json_body(request), needs_flow=False)
    found = await _run(version, service.db, campaign_id, number)
    if found is None:
        return web.json_response({"error": f"campaign {campaign_id} has no version {number}"}, status=404)
    result = await _run(publish, service.db, campaign_id, loads_flow(found.flow_json), mapping=command.mapping,
                        note=command.note or f"rollback to version {number}", clock=clock,
                        base_version=command.base_version)
    return web.json_response(_published(result))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/campaigns/{id:\\d+}/versions/preview", preview_version)
    router.add_post("/campaigns/{id:\\d+}/versions", publish_version)
    router.add_get("/campaigns/{id:\\d+}/versions", list_versions)
    router.add_get("/campaigns/{id:\\d+}/versions/{n:\\d+}", show_version)
    router.add_post("/campaigns/{id:\\d+}/versions/{n:\\d+}/rollback", rollback_version)

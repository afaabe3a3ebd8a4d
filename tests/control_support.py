"""The engine process's service with its control API on loopback, as the app talks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from engine.control.server import ControlServer
from engine.control.service import EngineService
from engine.delivery.smtp import SmtpSettings
from engine.runtime.runner import RunnerSettings


@asynccontextmanager
async def engine_with_api(db, secret: str) -> AsyncIterator[tuple[EngineService, ControlServer]]:
    """Started over ``db`` with the sandbox as its outgoing server and fast polling; stopped on the way out."""
    service = EngineService(db, RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=0, poll_seconds=0.05))
    server = ControlServer(service, secret)
    await service.start()
    await server.start()
    try:
        yield service, server
    finally:
        await server.stop()
        await service.stop()

"""``mailbranch serve``: the engine as its own process, for the app.

Prints one line ``MAILBRANCH-CONTROL <port> TRACKING <port>`` on stdout once it listens, so
the app (which chose the secret and passed it in the environment) knows
where to connect; then runs until told to shut down or terminated.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Optional, Union

from engine.bounces.settings import BounceMailboxSettings
from engine.control.server import ControlServer
from engine.control.service import EngineService
from engine.delivery.pacing import PacingSettings
from engine.delivery.smtp import SmtpSettings
from engine.observe.logs import configure
from engine.runtime.policy import DeliveryPolicy
from engine.runtime.runner import RunnerSettings
from engine.store.database import Database

SECRET_ENV = "MAILBRANCH_CONTROL_SECRET"


async def serve(db_target: str, smtp: Union[str, SmtpSettings], tracking_host: str, tracking_port: int,
                public_url: Optional[str], control_port: int = 0, grace_ms: int = 2000,
                policy: Optional[DeliveryPolicy] = None, pacing: Union[PacingSettings, None, str] = "default",
                bounce_mailbox: Optional[BounceMailboxSettings] = None) -> None:
    secret = os.environ.get(SECRET_ENV)
    if not secret or len(secret) < 16:
        raise SystemExit(f"{SECRET_ENV} must hold the control secret (at least 16 characters)")
    configure()
    db = Database(db_target)
    settings = RunnerSettings(SmtpSettings.from_url(smtp) if isinstance(smtp, str) else smtp, tracking_host,
                              tracking_port, public_url, grace_ms=grace_ms, poll_seconds=0.25,
                              policy=policy or DeliveryPolicy(),
                              pacing=PacingSettings() if pacing == "default" else pacing,  # type: ignore[arg-type]
                              bounce_mailbox=bounce_mailbox)
    service = EngineService(db, settings)
    done = asyncio.Event()
    server = ControlServer(service, secret, control_port, on_shutdown=done.set)
    await service.start()
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, done.set)
        except NotImplementedError:  # pragma: no cover - Windows
            pass
    relay = await _attach_relay(db, service)
    print(f"MAILBRANCH-CONTROL {server.port} TRACKING {service.runner.tracking.port}", flush=True)
    try:
        await done.wait()
    finally:
        if relay is not None:
            relay.set()
        await server.stop()
        await service.stop()
        db.dispose()


async def _attach_relay(db: Database, service: EngineService) -> Optional[asyncio.Event]:
    """With ``MAILBRANCH_RELAY_URL`` set, pull the public relay's events (docs/relay.md)."""
    from engine.relay.attach import URL_ENV, attach_to_runner
    from engine.relay.sync import RelayError

    url = os.environ.get(URL_ENV)
    if not url:
        return None
    try:
        return await attach_to_runner(db, service.runner, url)
    except (RelayError, OSError) as exc:
        logging.getLogger("mailbranch.relay").error("not syncing from the relay: %s", exc)
        return None

"""`serve`, `sandbox` and `worker`: the long-running processes."""

from __future__ import annotations

from typing import Optional

import typer

from engine.cli.common import (
    app,
    ca_option,
    delivery_policy,
    ehlo_option,
    fail,
    open_db,
    plain_auth_option,
    retry_option,
    smtp_from,
    warn_if_visible,
)
from engine.cli.mailflow import (
    bounce_imap_option,
    bounce_poll_option,
    bounce_settings_from,
    no_pacing_option,
    pace_option,
    pacing_from,
    warmup_option,
)


@app.command("serve")
def serve_command(
    db_path: str = typer.Option("mailbranch.db", "--db", help="SQLite file or PostgreSQL URL."),
    smtp: str = typer.Option("sandbox", "--smtp", envvar="MAILBRANCH_SMTP_URL",
                             help="Outgoing server; pass a URL with a password in MAILBRANCH_SMTP_URL, "
                                  "not on the command line, where other users can see it."),
    tracking_host: str = typer.Option("127.0.0.1", "--tracking-host"),
    tracking_port: int = typer.Option(8025, "--tracking-port"),
    public_url: Optional[str] = typer.Option(None, "--public-url"),
    control_port: int = typer.Option(0, "--control-port", help="Loopback port of the control API (0: any)."),
    ehlo_name: Optional[str] = ehlo_option(),
    ca_bundle: Optional[str] = ca_option(),
    allow_plain_auth: bool = plain_auth_option(),
    retry_for: str = retry_option(),
    bounce_imap: Optional[str] = bounce_imap_option(),
    bounce_poll: float = bounce_poll_option(),
    pace: Optional[list[str]] = pace_option(),
    warmup: Optional[str] = warmup_option(),
    no_pacing: bool = no_pacing_option(),
) -> None:
    """Run the engine as its own process for the desktop app (control API on loopback)."""
    import asyncio

    from engine.control.process import serve
    from engine.delivery.errors import CannotListen
    from engine.delivery.smtp import SmtpUrlError

    bounce_mailbox = bounce_settings_from(bounce_imap, bounce_poll, ca_bundle)
    pacing = pacing_from(pace, warmup, no_pacing)
    try:
        asyncio.run(serve(str(db_path), smtp_from(smtp, ehlo_name, ca_bundle, allow_plain_auth), tracking_host,
                          tracking_port, public_url, control_port, policy=delivery_policy(retry_for),
                          pacing=pacing, bounce_mailbox=bounce_mailbox))
    except (CannotListen, SmtpUrlError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


@app.command("sandbox")
def sandbox_command(
    db_path: str = typer.Option("mailbox.db", "--db", help="Where the captured messages are kept."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(2525, "--port"),
) -> None:
    """Run the sandbox SMTP server on its own; `mailbranch mailbox --db` shows what it caught."""
    import asyncio

    from engine.delivery.errors import CannotListen
    from engine.delivery.sandbox import SandboxServer

    db = open_db(db_path, must_exist=False)

    async def main() -> None:
        server = SandboxServer(db, host=host, port=port)
        await server.start()
        print(f"MAILBRANCH-SANDBOX {server.port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    try:
        asyncio.run(main())
    except CannotListen as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


@app.command("worker")
def worker_command(
    db_url: str = typer.Option(..., "--db", help="postgresql://user@host/database (the password from "
                                                 "PGPASSWORD or ~/.pgpass, not the command line)"),
    smtp: str = typer.Option("sandbox", "--smtp", envvar="MAILBRANCH_SMTP_URL",
                             help="Outgoing server URL (a sandbox's smtp://127.0.0.1:PORT for tests)."),
    public_url: str = typer.Option("http://127.0.0.1:8025", "--public-url",
                                   help="Base URL of the tracking server, written into every link."),
    concurrency: int = typer.Option(4, "--concurrency", help="Jobs this worker runs at once."),
    log_json: bool = typer.Option(False, "--log-json"),
    ehlo_name: Optional[str] = ehlo_option(),
    ca_bundle: Optional[str] = ca_option(),
    allow_plain_auth: bool = plain_auth_option(),
    retry_for: str = retry_option(),
    pace: Optional[list[str]] = pace_option(),
    warmup: Optional[str] = warmup_option(),
    no_pacing: bool = no_pacing_option(),
) -> None:
    """A scale-out worker: plays campaigns and sends their emails from a PostgreSQL database."""
    import asyncio
    import logging

    from engine.observe.logs import configure
    from engine.scale.worker import run_worker

    warn_if_visible(db_url, "--db", "leave it out of the URL and set PGPASSWORD or use ~/.pgpass")
    if "postgresql" not in db_url:
        fail("a worker needs a PostgreSQL database (--db postgresql://…); the embedded SQLite engine runs "
             "in one process")
    configure(json_lines=log_json or None, level=logging.INFO)
    settings = smtp_from(smtp, ehlo_name, ca_bundle, allow_plain_auth)
    policy = delivery_policy(retry_for)
    pacing = pacing_from(pace, warmup, no_pacing)
    if settings.sandbox:
        fail("a worker sends through a real server; start `mailbranch sandbox` and pass "
             "--smtp smtp://127.0.0.1:PORT")
    if db_url.startswith("postgresql://"):
        db_url = db_url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        asyncio.run(run_worker(db_url, settings, public_url, concurrency, policy=policy, pacing=pacing))
    except KeyboardInterrupt:
        pass


# -- the suppression list ---------------------------------------------------------

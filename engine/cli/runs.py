"""`run`: a campaign on the wall clock, sending for real (to the sandbox unless told
otherwise), with a live line of figures until it is complete."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from engine.cli.common import (
    _when,
    app,
    ca_option,
    delivery_policy,
    ehlo_option,
    err,
    fail,
    open_db,
    out,
    plain_auth_option,
    retry_option,
    smtp_from,
)
from engine.cli.flows import (
    read_leads,
    read_valid_flow,
    warn_no_postal_address,
    warn_unknown_fields,
)
from engine.cli.mailflow import (
    bounce_imap_option,
    bounce_poll_option,
    bounce_settings_from,
    no_pacing_option,
    pace_option,
    pacing_from,
    relay_option,
    relay_url_from,
    warmup_option,
)
from engine.cli.preflight import refuse_unready_real_run


def find_or_create_campaign(db, flow, clock, delivery: str, settings: Optional[dict] = None):
    """The campaign of this flow in this database, created on the first run."""
    from sqlalchemy import select

    from engine.flow.fileformat import dumps_flow
    from engine.run.engine import CampaignEngine
    from engine.store.models import Campaign

    text = dumps_flow(flow)
    with db.session() as s:
        rows = s.execute(select(Campaign.id, Campaign.flow_json, Campaign.name)
                         .where(Campaign.delivery == delivery)).all()
    for campaign_id, flow_json, _name in rows:
        if flow_json == text:
            return CampaignEngine(db, campaign_id, clock), True
    older = _published_over(db, [r[0] for r in rows], text)
    if older is not None:
        return CampaignEngine(db, older, clock), True
    if rows:
        fail(f"this database already holds the campaign “{rows[0][2]}” with a different flow; running it "
             "again would email its leads a second time. Use a new --db for a new campaign.", 1)
    return CampaignEngine.create(db, flow, clock, delivery=delivery, settings=settings), False


def _published_over(db, campaign_ids: list[int], text: str) -> Optional[int]:
    """The campaign whose earlier version this flow is (a newer one was published since):
    the same command resumes it, on the version it runs now (SEMANTICS 11)."""
    from sqlalchemy import select

    from engine.store.models import Campaign, CampaignVersion

    with db.session() as s:
        for campaign_id, number, running in s.execute(
                select(CampaignVersion.campaign_id, CampaignVersion.number, Campaign.version)
                .join(Campaign, Campaign.id == CampaignVersion.campaign_id)
                .where(CampaignVersion.campaign_id.in_(campaign_ids), CampaignVersion.flow_json == text)):
            err.print(f"This flow is version {number} of campaign {campaign_id}, which now runs version "
                      f"{running} (published since); resuming it on version {running}.", highlight=False)
            return campaign_id
    return None


@app.command("run")
def run_command(
    flow_path: Path = typer.Argument(..., metavar="FLOW"),
    leads: Path = typer.Option(..., "--leads", help="Lead list (CSV with an email column)."),
    db_path: str = typer.Option("mailbranch.db", "--db", help="SQLite file or PostgreSQL URL."),
    smtp: str = typer.Option("sandbox", "--smtp", envvar="MAILBRANCH_SMTP_URL",
                             help="smtp://user@host:port, smtps://…, or sandbox (or MAILBRANCH_SMTP_URL); the "
                                  "password from MAILBRANCH_SMTP_PASSWORD, the keyring or the app's settings."),
    tracking_host: str = typer.Option("127.0.0.1", "--tracking-host"),
    tracking_port: int = typer.Option(8025, "--tracking-port"),
    public_url: Optional[str] = typer.Option(None, "--public-url",
                                             help="Base URL of the tracking server as leads reach it."),
    quiet: bool = typer.Option(False, "--quiet", help="No live display; one line per change of state."),
    distributed: bool = typer.Option(False, "--distributed",
                                     help="PostgreSQL only: `mailbranch worker` processes play and send; "
                                          "this command enrols, serves tracking and shows progress."),
    shards: int = typer.Option(64, "--shards", help="With --distributed: how many lead shards (locks)."),
    verbose: bool = typer.Option(False, "--verbose", help="Log one line per operation (send, event, timer…)."),
    log_json: bool = typer.Option(False, "--log-json", help="Log lines as JSON objects."),
    ehlo_name: Optional[str] = ehlo_option(),
    ca_bundle: Optional[str] = ca_option(),
    allow_plain_auth: bool = plain_auth_option(),
    retry_for: str = retry_option(),
    bounce_imap: Optional[str] = bounce_imap_option(),
    bounce_poll: float = bounce_poll_option(),
    pace: Optional[list[str]] = pace_option(),
    warmup: Optional[str] = warmup_option(),
    no_pacing: bool = no_pacing_option(),
    relay: Optional[str] = relay_option(),
) -> None:
    """Run a campaign for real until it is complete; Ctrl-C stops, the same command resumes."""
    import asyncio
    import logging

    from engine.delivery.errors import CannotListen
    from engine.observe.logs import configure
    from engine.run.clock import SystemClock
    from engine.runtime import status as runtime_status
    from engine.runtime.runner import CampaignRunner, RunnerSettings
    from engine.runtime.supervise import Supervisor

    configure(json_lines=log_json or None, level=logging.INFO if verbose else logging.WARNING)
    flow = read_valid_flow(flow_path, "running")
    smtp_settings = smtp_from(smtp, ehlo_name, ca_bundle, allow_plain_auth)
    relay = relay_url_from(relay)
    public_url = public_url or relay  # through the relay, readers reach the relay
    refuse_unready_real_run(flow, smtp_settings, public_url)  # a sender domain and an https URL
    policy = delivery_policy(retry_for)
    bounce_mailbox = bounce_settings_from(bounce_imap, bounce_poll, ca_bundle)
    pacing = pacing_from(pace, warmup, no_pacing)
    lead_list, imported = read_leads(str(leads))
    for rejection in imported.rejected:
        err.print(f"[yellow]{leads}, line {rejection.line}[/]: {rejection.reason}", highlight=False)
    err.print(f"Leads: {imported.summary()}", highlight=False)
    warn_unknown_fields(flow, imported.columns)
    warn_no_postal_address(flow)
    db = open_db(db_path, must_exist=False)
    clock = SystemClock()
    campaign_settings = None
    if distributed:
        if db.is_sqlite:
            fail("--distributed needs a PostgreSQL database (--db postgresql://…)")
        import asyncio as _asyncio

        from engine.scale.worker import build_app, ensure_schema, libpq_url

        async def schema() -> None:
            procrastinate_app = build_app(libpq_url(db.url), None)  # type: ignore[arg-type]
            async with procrastinate_app.open_async():
                await ensure_schema(procrastinate_app, db)

        _asyncio.run(schema())
        campaign_settings = {"distributed": True, "shards": shards}
    engine, resumed = find_or_create_campaign(db, flow, clock, "real", campaign_settings)
    enrolled = engine.enroll(lead_list)
    err.print(("Resuming" if resumed else "Starting") + f" campaign {engine.campaign_id} “{engine.name}”: "
              f"{enrolled.added} leads enrolled now, {enrolled.already_enrolled} already in.", highlight=False)
    runner = CampaignRunner(db, [engine], RunnerSettings(smtp_settings, tracking_host, tracking_port, public_url,
                                                         distributed=distributed, policy=policy, pacing=pacing,
                                                         bounce_mailbox=bounce_mailbox), clock)
    # The send loop runs supervised: a crash is one log line and a restart, never a silent stop.
    supervisor = Supervisor(on_change=runtime_status.task_recorder(db))

    async def main() -> None:
        import signal

        # SIGTERM stops like Ctrl-C: messages already on the wire are answered and recorded first.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        try:
            await runner.start()
        except CannotListen as exc:
            fail(str(exc))
        if relay:
            from engine.relay.attach import attach_to_runner

            relay_stop = await attach_to_runner(db, runner, relay)
            err.print(f"Pulling opens and clicks from the relay at {relay}.", highlight=False)
        err.print(f"Tracking server: {runner.tracking.public_url}"
                  + (f"; sandbox SMTP on 127.0.0.1:{runner.sandbox.port}" if runner.sandbox else ""),
                  highlight=False)
        display = LiveStatus(db, engine.campaign_id, runner, quiet)
        # Bounces and complaints come back while the campaign runs (one left unread when it
        # ends stays unseen in the mailbox, for the next run or `serve`).
        from engine.bounces.mailbox import supervise_bounce_mailbox

        supervise_bounce_mailbox(supervisor, runner, bounce_mailbox)
        try:
            with display:
                await supervisor.run("send loop", lambda: runner.run(on_pass=display.update))
        finally:
            if relay:
                relay_stop.set()
            await supervisor.stop()
            await runner.stop()
        display.final()

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("Stopped. Run the same command again to resume; nothing will be sent twice.")
        raise typer.Exit(130) from None


class LiveStatus:
    """The live progress display of ``mailbranch run``."""

    def __init__(self, db, campaign_id: int, runner, quiet: bool) -> None:
        from rich.live import Live

        self.db, self.campaign_id, self.runner, self.quiet = db, campaign_id, runner, quiet
        self.live = None if quiet or not err.is_terminal else Live(console=err, refresh_per_second=4)
        self.last_line = ""
        #: Paused with `mailbranch pause` (or the app): said on the status line.
        self.paused = False

    def __enter__(self):
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def figures(self):
        from engine.control.views import campaign_status

        with self.db.session() as s:
            status = campaign_status(s, self.campaign_id, with_failures=False)
        self.paused = status.hold.paused
        return status.figures

    def update(self, runner) -> None:
        f = self.figures()
        sent = sum(n.sent for n in f.nodes.values())
        queued = sum(n.queued for n in f.nodes.values())
        failed = sum(n.send_failed for n in f.nodes.values())
        state = f"complete at {_when(f.complete_at)}" if f.complete_at else "running"
        line = (f"{state}: {f.leads} leads, {f.tokens_active} waiting, {sent} sent, {queued} queued, "
                f"{failed} failed; outbox {runner.outbox.status.describe()}")
        if self.paused:
            line += "; paused by you: nothing is sent until 'mailbranch resume'"
        if self.live is not None:
            from rich.progress_bar import ProgressBar

            finished = f.leads - f.tracked_open if not f.complete_at else f.leads
            table = Table.grid(padding=(0, 1))
            table.add_row(ProgressBar(total=max(f.leads, 1), completed=max(0, finished), width=40),
                          f"{finished}/{f.leads} leads done")
            table.add_row("", line)
            self.live.update(table)
        elif line != self.last_line:
            err.print(line, highlight=False)
        self.last_line = line

    def final(self) -> None:
        f = self.figures()
        out.print(f"Campaign {f.campaign_id} “{f.name}” is {f.state}"
                  + (f", complete at {_when(f.complete_at)}." if f.complete_at else "."), highlight=False)

"""The ``mailbranch`` command line.

Every command turns bad input into one clear sentence and an exit code, never
a traceback: 0 all well, 1 the flow has errors (or the run failed), 2 a file
could not be read.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.flow.durations import DurationError, format_duration, parse_duration
from engine.flow.fileformat import FlowFileError, load_flow
from engine.flow.validate import has_errors, validate

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Mailbranch: run and simulate email campaign flows.")
# Off a terminal (pipes, CI, tests) lines are not wrapped and tables get room.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 160)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def read_flow(path: Path):
    try:
        return load_flow(path)
    except FlowFileError as exc:
        fail(str(exc))


@app.command("validate")
def validate_command(flow_path: Path = typer.Argument(..., metavar="FLOW"),
                     as_json: bool = typer.Option(False, "--json", help="Print findings as JSON."),
                     leads: Optional[Path] = typer.Option(
                         None, "--leads", help="The lead list (CSV) the flow is for: warn about template "
                                               "fields it has no column for.")) -> None:
    """Check a flow: exit 0 without errors (warnings allowed), 1 with errors, 2 if unreadable."""
    flow = read_flow(flow_path)
    findings = validate(flow, read_leads(str(leads))[1].columns if leads is not None else None)
    if as_json:
        print(json.dumps({"findings": [f.as_json() for f in findings]}, indent=2, ensure_ascii=False))
    else:
        if not findings:
            out.print(f"[green]✓[/] {flow_path}: no problems found.")
        for f in findings:
            colour = "red" if f.is_error else "yellow"
            where = escape(f" [{f.node}]") if f.node else ""
            out.print(f"[{colour}]{f.severity}[/] {f.code}{where}: {escape(f.message)}", highlight=False)
    raise typer.Exit(1 if has_errors(findings) else 0)


def read_valid_flow(path: Path, doing: str):
    """The flow, or every error printed and exit 1: a flow with errors cannot run."""
    flow = read_flow(path)
    findings = validate(flow)
    if has_errors(findings):
        for f in findings:
            if f.is_error:
                err.print(f"[red]error[/] {f.code}" + (escape(f" [{f.node}]") if f.node else "")
                          + f": {escape(f.message)}", highlight=False)
        fail(f"the flow has errors; fix them before {doing}", 1)
    return flow


def warn_unknown_fields(flow, columns) -> None:
    """Print the templates' fields this lead list has no column for (they would render empty)."""
    for f in validate(flow, columns):
        if f.code == "unknown-field":
            err.print(f"[yellow]warning[/] {f.code}" + escape(f" [{f.node}]") + f": {escape(f.message)}",
                      highlight=False)


def warn_no_postal_address(flow) -> None:
    """A real campaign whose emails carry no postal address (CAN-SPAM asks for one) is told so."""
    from engine.delivery.layout import Theme

    if not Theme.from_flow(flow.extra.get("theme")).address:
        err.print("[yellow]warning[/] the emails carry no postal address; marketing email must show one "
                  "(CAN-SPAM): add \"address\" to the flow's \"theme\" (the inspector's Campaign page).",
                  highlight=False)


def parse_until(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except DurationError as exc:
        fail(f"--until: {exc}")


_RATE_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_send_rate(text: Optional[str]) -> Optional[float]:
    """``14/s``, ``500/m``, ``10000/h``, ``50000/d`` or a bare number per second -> sends per second."""
    if text is None:
        return None
    count, _slash, unit = text.strip().partition("/")
    try:
        value = float(count)
    except ValueError:
        value = float("nan")
    per = _RATE_UNITS.get(unit.strip().lower() or "s")
    if per is None or not math.isfinite(value) or value <= 0:
        fail(f"--send-rate: {text!r} is not a rate; write it like 14/s, 500/m or 10000/h")
    rate = value / per
    if rate > 1_000_000:
        fail("--send-rate: at most 1,000,000 sends a second")
    return rate


def read_leads(spec: str):
    from engine.run.engine import LeadInput

    if spec.isdigit():
        return [LeadInput(f"lead-{i}") for i in range(1, int(spec) + 1)], None
    from engine.leads.importer import LeadImportError, import_leads

    try:
        result = import_leads(spec)
    except LeadImportError as exc:
        fail(str(exc))
    leads = [LeadInput(r.key, r.email, dict(r.fields)) for r in result.leads]
    return leads, result


def read_events(path: Optional[Path]) -> list[dict]:
    if path is None:
        return []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        fail(f"{path}: cannot be read ({exc.strerror or exc})")
    events = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"{path}, line {number}: not valid JSON ({exc.msg})")
        if not isinstance(raw, dict):
            fail(f"{path}, line {number}: each line must be a JSON object")
        if raw.get("type") not in ("open", "click"):
            fail(f"{path}, line {number}: 'type' must be \"open\" or \"click\"")
        for key in ("lead", "email"):
            if not isinstance(raw.get(key), str):
                fail(f"{path}, line {number}: '{key}' must be text")
        if raw.get("url") is not None and not isinstance(raw["url"], str):
            fail(f"{path}, line {number}: 'url' must be text")
        try:
            at = parse_duration(raw.get("at"))
        except DurationError as exc:
            fail(f"{path}, line {number}: 'at': {exc}")
        events.append({"lead": raw["lead"], "type": raw["type"], "email": raw["email"],
                       "url": raw.get("url"), "at": at})
    return events


@app.command("simulate")
def simulate_command(
    flow_path: Path = typer.Argument(..., metavar="FLOW"),
    leads: str = typer.Option(..., "--leads", help="A number N (lead-1 … lead-N) or a CSV file."),
    events_path: Optional[Path] = typer.Option(None, "--events", help="JSON lines of simulated events."),
    mode: Optional[str] = typer.Option(None, "--mode", help="Override every condition: parallel|exclusive."),
    until: Optional[str] = typer.Option(None, "--until", help="Stop at this campaign time, e.g. 2d."),
    db_path: Optional[str] = typer.Option(None, "--db", help="SQLite file (default: in memory)."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole run as JSON."),
    send_rate: Optional[str] = typer.Option(None, "--send-rate",
                                            help="A provider's rate, e.g. 14/s, 500/m, 10000/h: sends leave "
                                                 "the queue in order at that rate (default: at once)."),
) -> None:
    """Run a flow on a simulated clock with a simulated outbox until it is complete."""
    from engine.sim.simulate import simulate
    from engine.store.database import Database

    if mode is not None and mode not in ("parallel", "exclusive"):
        fail("--mode must be parallel or exclusive")
    flow = read_valid_flow(flow_path, "simulating")
    until_s = parse_until(until)
    rate = parse_send_rate(send_rate)
    lead_list, imported = read_leads(leads)
    if imported is not None and not as_json:
        for rejection in imported.rejected:
            err.print(f"[yellow]line {rejection.line}[/]: {rejection.reason}", highlight=False)
        err.print(f"Leads: {imported.summary()}", highlight=False)
        warn_unknown_fields(flow, imported.columns)
    events = read_events(events_path)
    db = Database(db_path) if db_path else None
    progress_cb = None
    progress = None
    if not as_json and len(lead_list) >= 5000 and sys.stderr.isatty():
        from rich.progress import Progress

        progress = Progress(console=err, transient=True)
        task = progress.add_task("Simulating", total=None)
        progress.start()

        def progress_cb(played: int) -> None:
            progress.update(task, advance=played)
    try:
        result = simulate(flow, lead_list, events, mode=mode, until=until_s, db=db, on_progress=progress_cb,
                          send_rate=rate)
    finally:
        if progress is not None:
            progress.stop()
    if as_json:
        print(json.dumps(result.as_json(), indent=1, ensure_ascii=False))
        return
    print_summary(result, flow)


def print_summary(result, flow) -> None:
    figures = result.figures
    table = Table(title=f"{flow.name}: {figures.leads} leads", title_justify="left")
    columns = ("step", "waiting", "passed", "sent", "opened", "clicked", "yes", "no", "ended")
    for column in columns:
        table.add_column(column, justify="left" if column == "step" else "right", no_wrap=True)
    for node in flow.nodes:
        f = figures.nodes[node.id]
        email, cond = node.type == "email", node.type == "condition"
        table.add_row(f"{node.id} ({node.type})", str(f.waiting), str(f.passed),
                      str(f.sent) if email else "", str(f.opened) if email else "",
                      str(f.clicked) if email else "", str(f.yes) if cond else "",
                      str(f.no) if cond else "", str(f.finished + f.failed) if node.type == "end" else "")
    out.print(table)
    opens = sum(1 for e in result.events if e["type"] == "open")
    clicks = len(result.events) - opens
    out.print(f"Sends: {len(result.sends)}, skips: {len(result.skips)}, events: {opens} opens and "
              f"{clicks} clicks ({sum(1 for e in result.events if e['triggered'])} triggered a condition).")
    if result.complete_at is None:
        out.print("[yellow]Not complete[/] at the end of the simulated time.")
    else:
        out.print(f"[green]Complete at {format_duration(result.complete_at)}[/] of campaign time.")


# -- real runs ----------------------------------------------------------------

def ehlo_option():
    return typer.Option(None, "--ehlo-name", envvar="MAILBRANCH_EHLO_NAME",
                        help="The name given to the SMTP server in EHLO (default localhost.localdomain); "
                             "your sending domain is a good choice.")


def ca_option():
    return typer.Option(None, "--ca-bundle", envvar="MAILBRANCH_CA_BUNDLE",
                        help="A PEM file of CA certificates to verify the SMTP server with (default: the system's).")


def plain_auth_option():
    return typer.Option(False, "--allow-plain-auth",
                        help="Send the SMTP password even when the server offers no encryption (trusted networks "
                             "only); without it such a server pauses sending with the reason.")


def retry_option():
    return typer.Option("3d", "--retry-for", help="How long a message the server refuses for now (4xx) is "
                                                  "retried before it fails, e.g. 3d, 12h.")


def smtp_from(url: str, ehlo_name: Optional[str], ca_bundle: Optional[str], allow_plain_auth: bool):
    """The outgoing server's settings: the URL, with the command's options laid over it."""
    from engine.delivery.smtp import SmtpSettings, SmtpUrlError
    from engine.delivery.smtp_password import with_password

    try:
        settings = SmtpSettings.from_url(url)
    except SmtpUrlError as exc:
        fail(str(exc))
    warn_if_visible(url, "--smtp", "put it in MAILBRANCH_SMTP_PASSWORD or the keyring (mailbranch smtp-password) "
                    "and give --smtp smtp://user@host")
    settings = with_password(settings)
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        fail(f"--ca-bundle: {ca_bundle} is not a readable file")
    return settings.with_options(local_hostname=ehlo_name, ca_file=ca_bundle,
                                 allow_plain_auth=True if allow_plain_auth else None)


def delivery_policy(retry_for: str):
    from engine.runtime.policy import DeliveryPolicy

    try:
        horizon = parse_duration(retry_for)
    except DurationError as exc:
        fail(f"--retry-for: {exc}")
    if horizon <= 0:
        fail("--retry-for must be longer than 0")
    return DeliveryPolicy(retry_horizon=horizon)


def open_db(db_path: Path, must_exist: bool = True):
    from engine.store.database import Database
    from engine.store.schema import SchemaError

    warn_if_visible(db_path, "--db", "leave it out of the URL and set PGPASSWORD or use ~/.pgpass")
    if must_exist and "://" not in str(db_path) and not Path(db_path).exists():
        fail(f"{db_path}: no such database; start a campaign with 'mailbranch run' first")
    try:
        db = Database(db_path)
        db.migrate()
    except SchemaError as exc:
        fail(f"{_shown(db_path)}: {exc}")
    except Exception as exc:  # noqa: BLE001 - any driver error becomes one sentence
        fail(f"{_shown(db_path)}: cannot open the database ({exc.__class__.__name__}: {_shown(exc)})")
    return db


def warn_if_visible(value: object, option: str, instead: str) -> None:
    """A password typed on the command line can be read by every user of the computer (``ps``): say so."""
    from engine.delivery.smtp_password import has_password

    text = str(value).strip()
    if has_password(text) and any(text in arg for arg in sys.argv[1:]):
        err.print(f"[yellow]warning:[/] the password in {option} can be read by every user of this computer "
                  f"(ps); {instead}.", highlight=False)


def _shown(value: object) -> str:
    """Text for a message, with any password in a URL replaced by ****."""
    from engine.delivery.smtp_password import redact_url

    return " ".join(redact_url(word) for word in str(value).split(" "))


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
    if rows:
        fail(f"this database already holds the campaign “{rows[0][2]}” with a different flow; running it "
             "again would email its leads a second time. Use a new --db for a new campaign.", 1)
    return CampaignEngine.create(db, flow, clock, delivery=delivery, settings=settings), False


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
    policy = delivery_policy(retry_for)
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
                                                         distributed=distributed, policy=policy), clock)
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
        err.print(f"Tracking server: {runner.tracking.public_url}"
                  + (f"; sandbox SMTP on 127.0.0.1:{runner.sandbox.port}" if runner.sandbox else ""),
                  highlight=False)
        display = LiveStatus(db, engine.campaign_id, runner, quiet)
        try:
            with display:
                await supervisor.run("send loop", lambda: runner.run(on_pass=display.update))
        finally:
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
        from engine.run.report import campaign_figures
        from engine.runtime import pausing
        from engine.store.models import Campaign

        with self.db.session() as s:
            figures = campaign_figures(s, self.campaign_id)
            campaign = s.get(Campaign, self.campaign_id)
            self.paused = pausing.campaign_state(campaign.settings, campaign.state)["paused"]
            return figures

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


def _when(ms: Optional[int]) -> str:
    from datetime import datetime

    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@app.command("status")
def status_command(
    db_path: str = typer.Option(..., "--db"),
    campaign: Optional[int] = typer.Option(None, "--campaign", help="Only this campaign id."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Per-node counts (waiting, passed, sent, opened, clicked, failed) and completion."""
    from sqlalchemy import select

    from engine.run.report import campaign_figures
    from engine.runtime import pausing
    from engine.runtime import status as runtime_status
    from engine.store.models import Campaign, read_counter

    db = open_db(db_path)
    runtime_status.ensure_table(db)
    with db.session() as s:
        ids = [campaign] if campaign is not None else list(s.execute(select(Campaign.id)).scalars())
        try:
            all_figures = [campaign_figures(s, cid) for cid in ids]
        except LookupError as exc:
            fail(str(exc), 1)
        rejected = read_counter(s, "tracking_rejected")
        delivery = runtime_status.engine_report(s)
        failures = {cid: runtime_status.failed_sends(s, cid) for cid in ids}
        holds = {cid: pausing.campaign_state(settings, state) for cid, settings, state in s.execute(
            select(Campaign.id, Campaign.settings, Campaign.state).where(Campaign.id.in_(ids)))}
    if as_json:
        campaigns = [dict(f.as_json(), failed_sends=failures[f.campaign_id], **holds.get(f.campaign_id, {}))
                     for f in all_figures]
        print(json.dumps({"campaigns": campaigns, "tracking_rejected": rejected, "delivery": delivery},
                         indent=1, ensure_ascii=False))
        return
    if not all_figures:
        out.print("No campaigns in this database yet.")
    out.print(f"Tracking requests rejected (forged, damaged or unknown tokens): {rejected}.")
    print_delivery(delivery)
    for f in all_figures:
        hold = holds.get(f.campaign_id, {})
        table = Table(title=f"Campaign {f.campaign_id} “{f.name}”: {f.state}"
                      + (f", complete at {_when(f.complete_at)}" if f.complete_at else "")
                      + (f" at {_when(hold['stopped_at'])}" if f.state == "stopped" and hold.get("stopped_at") else "")
                      + (f", paused by you since {_when(hold['paused_at'])} (nothing is sent until you resume)"
                         if hold.get("paused") else ""), title_justify="left")
        for column in ("step", "waiting", "passed", "sent", "opened", "clicked", "failed", "yes", "no", "ended"):
            table.add_column(column, justify="left" if column == "step" else "right", no_wrap=True)
        for n in f.nodes.values():
            email, cond = n.type == "email", n.type == "condition"
            table.add_row(f"{n.node} ({n.type})", str(n.waiting), str(n.passed),
                          f"{n.sent}" + (f" (+{n.queued} queued)" if n.queued else "") if email else "",
                          f"{n.opened}" if email else "", f"{n.clicked}" if email else "",
                          str(n.failed + n.send_failed) if (n.failed or n.send_failed) else "",
                          str(n.yes) if cond else "", str(n.no) if cond else "",
                          str(n.finished) if n.type == "end" else "")
        out.print(table)
        sent = sum(n.sent for n in f.nodes.values())
        failed = sum(n.send_failed for n in f.nodes.values())
        queued = sum(n.queued for n in f.nodes.values())
        out.print(f"{f.leads} leads, {f.tokens_active} tokens waiting. Sends: {sent} delivered, {queued} in the "
                  f"outbox, {failed} failed, {f.retries} retries. Events: {f.events} ({f.late_events} late, "
                  f"{f.pending_events} not yet handled). Timers pending: {f.pending_waits}.", highlight=False)
        if failures[f.campaign_id]:
            out.print("Failed sends (latest first):", highlight=False)
            for x in failures[f.campaign_id]:
                out.print(f"  {x['lead']} <{x['email']}> at {x['node']}, {_when(x['at'])}: {x['error']}",
                          highlight=False)


def _pause_or_resume(db_path: str, campaign: Optional[int], paused: bool) -> None:
    """Set a campaign's pause flag in the database; the process that sends reads it before each claim."""
    from sqlalchemy import select

    from engine.run.clock import SystemClock
    from engine.runtime import pausing
    from engine.store.models import Campaign

    db = open_db(db_path)
    verb = "pause" if paused else "resume"
    with db.session() as s:
        if campaign is None:
            live = list(s.execute(select(Campaign.id).where(Campaign.state != "stopped")).scalars())
            if len(live) != 1:
                fail(f"this database has {len(live) or 'no'} campaign{'s' if len(live) != 1 else ''} to {verb}"
                     + (f" ({', '.join(map(str, live))}); name one with --campaign ID" if live else ""), 1)
            campaign = live[0]
        try:
            changed = pausing.set_paused(s, campaign, paused, SystemClock().now())
        except pausing.CampaignStateError as exc:
            fail(str(exc), 1)
        name = s.get(Campaign, campaign).name
    if paused:
        out.print(f"Campaign {campaign} “{name}” is {'now' if changed else 'already'} paused: nothing more is "
                  "sent until you resume it (a message already on its way finishes); its timers keep their times.",
                  highlight=False)
    else:
        out.print(f"Campaign {campaign} “{name}” {'resumes' if changed else 'was not paused and goes on'}: "
                  "what fell due while it was paused goes out now, oldest first.", highlight=False)


@app.command("pause")
def pause_command(db_path: str = typer.Option(..., "--db"),
                  campaign: Optional[int] = typer.Option(None, "--campaign",
                                                         help="The campaign id (needed when there are several).")
                  ) -> None:
    """Pause a campaign's sending: nothing more goes out until `mailbranch resume`; timers keep their times."""
    _pause_or_resume(db_path, campaign, True)


@app.command("resume")
def resume_command(db_path: str = typer.Option(..., "--db"),
                   campaign: Optional[int] = typer.Option(None, "--campaign",
                                                          help="The campaign id (needed when there are several).")
                   ) -> None:
    """Resume a paused campaign: what fell due while it was paused is sent, oldest first."""
    _pause_or_resume(db_path, campaign, False)


def print_delivery(report: dict) -> None:
    """Outboxes (paused? why? until when?), their last errors by class, retries waiting, and supervised tasks."""
    from engine.runtime.status import ERROR_CLASS_NAMES

    for name, o in sorted(report["outboxes"].items()):
        who = {"outbox": "Outbox", "outbox:simulations": "Outbox of simulations"}.get(
            name, "Outbox of " + name.split(":", 1)[-1].replace("worker:", "worker "))
        line = f"{who} (as of {_when(o.get('updated_at'))}): {o.get('state')}"
        if o.get("state") == "paused":
            line += f" since {_when(o.get('since'))}: {o.get('reason')}; next try at {_when(o.get('resume_at'))}"
        out.print(line + ".", highlight=False)
        for kind in ("server", "session", "message", "transient"):
            e = (o.get("last_errors") or {}).get(kind)
            if e:
                out.print(f"  last error, {ERROR_CLASS_NAMES[kind]} ({_when(e.get('at'))}): {e.get('error')}",
                          highlight=False)
    retries = report["retries"]
    if retries["count"]:
        out.print(f"Retries waiting: {retries['count']} (refused for now), next at {_when(retries['next_at'])}.",
                  highlight=False)
    for t in report["tasks"]:
        if t.get("restarts") or t.get("last_error") or not (t.get("running") or t.get("finished")
                                                            or t.get("stopped")):
            state = ("running" if t.get("running") else "finished" if t.get("finished")
                     else "stopped with its process" if t.get("stopped") else "DOWN, restarting")
            out.print(f"Task {t['name']}: {state}, restarted {t.get('restarts', 0)} times; last error at "
                      f"{_when(t.get('last_error_at'))}: {t.get('last_error')}", highlight=False)


@app.command("mailbox")
def mailbox_command(
    db_path: str = typer.Option(..., "--db"),
    message: Optional[int] = typer.Argument(None, help="Show this message (its number in the list)."),
    to: Optional[str] = typer.Option(None, "--to", help="Only messages to this address."),
    limit: int = typer.Option(50, "--limit"),
    html: bool = typer.Option(False, "--html", help="Show the HTML part instead of the text."),
) -> None:
    """List the sandbox's captured messages, or show one."""
    from engine.delivery.mailbox import count_resends, get_message, list_messages

    db = open_db(db_path)
    with db.session() as s:
        if message is None:
            rows = list_messages(s, to=to, limit=limit)
            table = Table(title="Sandbox mailbox (newest first)", title_justify="left")
            for column in ("#", "received", "to", "subject"):
                table.add_column(column, no_wrap=column != "subject")
            for m in rows:
                table.add_row(str(m.id), _when(m.received_at), ", ".join(m.rcpt_tos), m.subject or "")
            out.print(table)
            if not rows:
                out.print("The mailbox is empty.")
            resent = count_resends(s)
            if resent:
                out.print(f"{resent} message(s) arrived again with a Message-ID already here (a resend after a "
                          "crash); each is kept once.", highlight=False)
            return
        m = get_message(s, message)
        if m is None:
            fail(f"there is no message {message} in the mailbox", 1)
        parsed = m.email()
        for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"):
            out.print(f"[bold]{header}:[/] {parsed.get(header, '')}", highlight=False)
        out.print()
        print(m.body("html" if html else "plain") or "")


@app.command("event")
def event_command(
    kind: str = typer.Argument(..., metavar="open|click"),
    db_path: str = typer.Option(..., "--db"),
    lead: str = typer.Option(..., "--lead", help="The lead's id (or email address)."),
    email: str = typer.Option(..., "--email", help="The email node the event is about."),
    url: Optional[str] = typer.Option(None, "--url", help="For a click: the link's URL."),
    campaign: Optional[int] = typer.Option(None, "--campaign"),
) -> None:
    """Inject a simulated open or click into a running campaign, handled like a real one."""
    from sqlalchemy import func, select

    from engine.run.clock import SystemClock
    from engine.store.models import Campaign, Lead, Send

    if kind not in ("open", "click"):
        fail("the event must be open or click")
    db = open_db(db_path)
    with db.session() as s:
        cid = campaign or s.execute(select(func.max(Campaign.id)).where(Campaign.delivery == "real")).scalar()
        if cid is None:
            fail("there is no running campaign in this database", 1)
        row = s.execute(select(Lead.id).where(Lead.campaign_id == cid, (Lead.key == lead) | (Lead.email == lead))
                        ).first()
        if row is None:
            fail(f"campaign {cid} has no lead “{lead}”", 1)
        send = s.execute(select(Send.id, Send.campaign_id).where(Send.lead_id == row[0], Send.node == email)).first()
        if send is None:
            fail(f"lead “{lead}” has not been sent “{email}” (yet); nothing recorded", 1)
    import asyncio

    from engine.runtime.sink import EngineSink

    sink = EngineSink(db)
    with db.session() as s:
        settings = s.get(Campaign, cid).settings or {}
    if settings.get("distributed"):
        from engine.scale.jobs import DEFAULT_SHARDS, ShardJobs

        jobs = ShardJobs(cid, int(settings.get("shards", DEFAULT_SHARDS)))
        sink.on_events = lambda session, events: jobs.wake_at(session, [(lead, at) for _c, lead, at in events])
    now = SystemClock().now()
    if kind == "open":
        ok = asyncio.run(sink.record_open(cid, send[0], now))
    else:
        ok = asyncio.run(sink.record_click(cid, send[0], url, now))
    if not ok:
        fail("the event was not recorded", 1)
    out.print(f"Recorded a {kind} of {email} by {lead}; the running campaign handles it within seconds.",
              highlight=False)


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
) -> None:
    """Run the engine as its own process for the desktop app (control API on loopback)."""
    import asyncio

    from engine.control.process import serve
    from engine.delivery.errors import CannotListen
    from engine.delivery.smtp import SmtpUrlError

    try:
        asyncio.run(serve(str(db_path), smtp_from(smtp, ehlo_name, ca_bundle, allow_plain_auth), tracking_host,
                          tracking_port, public_url, control_port, policy=delivery_policy(retry_for)))
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
    if settings.sandbox:
        fail("a worker sends through a real server; start `mailbranch sandbox` and pass "
             "--smtp smtp://127.0.0.1:PORT")
    if db_url.startswith("postgresql://"):
        db_url = db_url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        asyncio.run(run_worker(db_url, settings, public_url, concurrency, policy=policy))
    except KeyboardInterrupt:
        pass


# -- the suppression list ---------------------------------------------------------

suppression_app = typer.Typer(no_args_is_help=True, help="The installation's suppression list: addresses that no "
                                                         "campaign emails (unsubscribes, bounces, complaints).")
app.add_typer(suppression_app, name="suppression")


@suppression_app.command("list")
def suppression_list(db_path: str = typer.Option(..., "--db"),
                     search: str = typer.Option("", "--search", help="Only addresses or notes containing this."),
                     as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the suppressed addresses, newest first."""
    from engine.store import suppression

    with open_db(db_path).session() as s:
        found = suppression.entries(s, search=search)
    if as_json:
        print(json.dumps({"suppressions": [e.as_json() for e in found]}, indent=1, ensure_ascii=False))
        return
    table = Table(title=f"Suppression list: {len(found)} address{'es' if len(found) != 1 else ''}"
                        + (f" matching “{search}”" if search else ""), title_justify="left")
    for column in ("email", "reason", "since", "note"):
        table.add_column(column, no_wrap=column != "note")
    for e in found:
        table.add_row(e.email, e.reason, _when(e.at), e.note or "")
    out.print(table)


@suppression_app.command("export")
def suppression_export(db_path: str = typer.Option(..., "--db"),
                       output: Optional[Path] = typer.Option(None, "--output", "-o",
                                                             help="Write to this file (default: standard output).")
                       ) -> None:
    """Write the whole list as CSV (email, reason, at, note)."""
    from engine.store import suppression

    with open_db(db_path).session() as s:
        text, total = suppression.export_csv(s), suppression.count(s)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    err.print(f"Wrote {total} address{'es' if total != 1 else ''} to {output}.", highlight=False)


@suppression_app.command("import")
def suppression_import(csv_path: Path = typer.Argument(..., metavar="FILE.csv"),
                       db_path: str = typer.Option(..., "--db"),
                       reason: str = typer.Option("import", "--reason",
                                                  help="Reason for rows without one: import, unsubscribe, bounce, "
                                                       "complaint or manual.")) -> None:
    """Add the addresses of a CSV (an email column; reason, at, note optional); bad rows are listed, not added."""
    from engine.store import suppression

    if reason not in suppression.REASONS:
        fail(f"--reason must be one of {', '.join(suppression.REASONS)}")
    try:
        source = csv_path.read_bytes().decode("utf-8")
    except OSError as exc:
        fail(f"cannot read {csv_path}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        fail(f"{csv_path} is not UTF-8 text; save it as CSV UTF-8 and try again")
    with open_db(db_path).session() as s:
        result = suppression.import_csv(s, source, default_reason=reason)
    for rejected in result.rejected:
        err.print(f"line {rejected.line}: {rejected.reason}", highlight=False)
    out.print(f"{csv_path}: {result.summary()}.", highlight=False)
    raise typer.Exit(1 if result.rejected else 0)


@suppression_app.command("add")
def suppression_add(addresses: list[str] = typer.Argument(..., metavar="ADDRESS..."),
                    db_path: str = typer.Option(..., "--db"),
                    note: Optional[str] = typer.Option(None, "--note", help="Why, for whoever reads the list later.")
                    ) -> None:
    """Suppress addresses by hand (reason: manual)."""
    from engine.store import suppression

    with open_db(db_path).session() as s:
        try:
            added = [a for a in addresses if suppression.add(s, a, "manual", note=note)]
        except suppression.SuppressionError as exc:
            fail(f"{exc}; nothing was added", 1)
    out.print(f"Added {len(added)}; {len(addresses) - len(added)} already on the list.", highlight=False)


@suppression_app.command("remove")
def suppression_remove(addresses: list[str] = typer.Argument(..., metavar="ADDRESS...",
                                                             help="Each address to take off the list, in full."),
                       db_path: str = typer.Option(..., "--db")) -> None:
    """Take addresses off the list, so later campaigns may email them again. Names each one it removed."""
    from engine.store import suppression

    with open_db(db_path).session() as s:
        removed = suppression.remove(s, addresses)
    missing = sorted({suppression.normalise(a) for a in addresses} - set(removed))
    for address in removed:
        out.print(f"Removed {address}: later campaigns may email it again.", highlight=False)
    for address in missing:
        err.print(f"{address} was not on the suppression list.", highlight=False)
    raise typer.Exit(0 if removed else 1)


@app.command("smtp-password")
def smtp_password_command(
    smtp: str = typer.Option(..., "--smtp", envvar="MAILBRANCH_SMTP_URL",
                             help="The account, without its password: smtp://user@host:port."),
    forget: bool = typer.Option(False, "--forget", help="Remove the stored password instead."),
) -> None:
    """Store the SMTP password in the system keyring (or an owner-only file), so no command line shows it.

    The password is read from the terminal without echo, or from standard input.
    """
    import getpass

    from engine.delivery.smtp import SmtpSettings, SmtpUrlError
    from engine.delivery.smtp_password import PasswordStoreError, forget_password, store_password

    try:
        settings = SmtpSettings.from_url(smtp)
    except SmtpUrlError as exc:
        fail(str(exc))
    if settings.sandbox or not settings.username:
        fail("--smtp must name the account: smtp://user@host:port")
    account = f"{settings.username} on {settings.host}"
    if forget:
        places = forget_password(settings.username, settings.host)
        out.print(f"Removed the password of {account} from {' and '.join(places)}." if places
                  else f"No stored password of {account} was found.", highlight=False)
        return
    password = (getpass.getpass(f"Password of {account}: ") if sys.stdin.isatty()
                else sys.stdin.readline().rstrip("\r\n"))
    if not password:
        fail("no password given; nothing stored", 1)
    try:
        where = store_password(settings.username, settings.host, password)
    except PasswordStoreError as exc:
        fail(str(exc))
    out.print(f"Stored the password of {account} in {where}.", highlight=False)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("Stopped.")
        sys.exit(130)
    except Exception as exc:
        # Commands that open a database without open_db (serve, worker, simulate --db)
        # refuse a newer one with its sentence too, not a traceback.
        from engine.store.schema import SchemaError

        if not isinstance(exc, SchemaError):
            raise
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()

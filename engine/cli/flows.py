"""`validate` and `simulate`: a flow file checked, or played on a simulated clock."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.common import (
    app,
    err,
    fail,
    out,
    read_flow,
)
from engine.flow.durations import DurationError, format_duration, parse_duration
from engine.flow.validate import has_errors, validate
from engine.nodes.registry import node_type


@app.command("validate")
def validate_command(flow_path: Path = typer.Argument(..., metavar="FLOW"),
                     as_json: bool = typer.Option(False, "--json", help="Print findings as JSON."),
                     leads: Optional[Path] = typer.Option(
                         None, "--leads", help="The lead list (CSV) the flow is for: warn about template "
                                               "fields it has no column for."),
                     real: bool = typer.Option(False, "--real", help="For a real run (not the sandbox): a "
                                                                     "missing sender is an error too.")) -> None:
    """Check a flow: exit 0 without errors (warnings allowed), 1 with errors, 2 if unreadable."""
    flow = read_flow(flow_path)
    findings = validate(flow, read_leads(str(leads))[1].columns if leads is not None else None)
    if real:
        from engine.delivery.identity import missing_sender_findings
        from engine.flow.validate import ERROR, Finding

        findings += missing_sender_findings(flow, Finding, ERROR)
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


def parse_start(text: Optional[str]) -> Optional[int]:
    """``--start``: an ISO 8601 date and time with its offset -> epoch milliseconds."""
    if text is None:
        return None
    from datetime import datetime
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        fail(f"--start: {text!r} is not a date and time with an offset; write it like 2026-03-02T08:00:00+01:00")
    return int(moment.timestamp() * 1000)


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
        if raw.get("type") not in ("open", "click", "convert"):
            fail(f"{path}, line {number}: 'type' must be \"open\", \"click\" or \"convert\"")
        # A conversion is the lead's, not an email's (SEMANTICS 10): it names no email.
        for key in ("lead",) if raw["type"] == "convert" else ("lead", "email"):
            if not isinstance(raw.get(key), str):
                fail(f"{path}, line {number}: '{key}' must be text")
        if raw.get("url") is not None and not isinstance(raw["url"], str):
            fail(f"{path}, line {number}: 'url' must be text")
        # Made by a machine (a privacy proxy, a link scanner: SEMANTICS 5); only opens and clicks can be.
        machine = raw.get("machine", False)
        if not isinstance(machine, bool):
            fail(f"{path}, line {number}: 'machine' must be true or false")
        if machine and raw["type"] == "convert":
            fail(f"{path}, line {number}: 'machine' is for opens and clicks; a conversion is the lead's own")
        try:
            at = parse_duration(raw.get("at"))
        except DurationError as exc:
            fail(f"{path}, line {number}: 'at': {exc}")
        events.append({"lead": raw["lead"], "type": raw["type"], "email": raw.get("email"),
                       "url": raw.get("url"), "at": at, "machine": machine})
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
    start: Optional[str] = typer.Option(None, "--start",
                                        help="Where campaign time 0 falls on the calendar, ISO 8601 with an "
                                             "offset, e.g. 2026-03-02T08:00:00+01:00 (default: now); send "
                                             "windows open by it. Output times stay seconds from the start."),
) -> None:
    """Run a flow on a simulated clock with a simulated outbox until it is complete."""
    from engine.sim.simulate import simulate
    from engine.store.database import Database

    if mode is not None and mode not in ("parallel", "exclusive"):
        fail("--mode must be parallel or exclusive")
    flow = read_valid_flow(flow_path, "simulating")
    until_s = parse_until(until)
    rate = parse_send_rate(send_rate)
    start_ms = parse_start(start)
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
                          send_rate=rate, start=start_ms)
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
    columns = ("step", "waiting", "passed", "sent", "opened", "clicked", "outputs", "ended")
    for column in columns:
        table.add_column(column, justify="left" if column == "step" else "right", no_wrap=True)
    for node in flow.nodes:
        f = figures.nodes[node.id]
        kind = node_type(node.type)
        shows = set(kind.figures)

        def cell(name: str, value: int, shows: set = shows) -> str:
            return str(value) if name in shows else ""
        ports = kind.ports(node)
        outputs = " · ".join(f"{p.title} {f.ports.get(p.name, 0)}" for p in ports) if len(ports) > 1 else ""
        table.add_row(f"{node.id} ({node.type})", cell("waiting", f.waiting), str(f.passed),
                      cell("sent", f.sent), cell("opened", f.opened), cell("clicked", f.clicked), outputs,
                      str(f.finished + f.failed) if kind.is_exit else "")
    out.print(table)
    opens = sum(1 for e in result.events if e["type"] == "open")
    clicks = len(result.events) - opens
    out.print(f"Sends: {len(result.sends)}, skips: {len(result.skips)}, events: {opens} opens and "
              f"{clicks} clicks ({sum(1 for e in result.events if e['triggered'])} triggered a condition).")
    if result.complete_at is None:
        out.print("[yellow]Not complete[/] at the end of the simulated time.")
    else:
        out.print(f"[green]Complete at {format_duration(result.complete_at)}[/] of campaign time.")

"""`preflight`: will inboxes accept this campaign's mail? And the one sentence `run` refuses with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from engine.cli.common import app, err, fail, out, read_flow, smtp_from

_MARKS = {"pass": "[green]✓[/]", "fail": "[bold red]✗[/]", "warn": "[yellow]![/]", "unknown": "[dim]?[/]"}


#: A server on this computer is a test set-up (a fault-injecting server, a Postfix on loopback):
#: run warns about the sender instead of refusing.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def refuse_unready_real_run(flow, smtp_settings, public_url: Optional[str]) -> None:
    """`run` against a real server (not the sandbox) needs a sender domain and an https public URL."""
    if smtp_settings.sandbox:
        return
    from engine.delivery.identity import real_run_problem

    problem = real_run_problem(flow, public_url)
    if not problem:
        return
    if smtp_settings.host.lower() in LOOPBACK_HOSTS:
        err.print(f"[yellow]warning:[/] {escape(problem)} (sending anyway: {smtp_settings.host} is this computer)",
                  highlight=False)
        return
    fail(f"not sending to {smtp_settings.host}: {problem}", 1)


@app.command("preflight")
def preflight_command(
    flow_path: Path = typer.Argument(..., metavar="FLOW"),
    leads: Optional[str] = typer.Option(None, "--leads", help="Lead list (CSV), to simulate emails per day."),
    smtp: str = typer.Option("sandbox", "--smtp", envvar="MAILBRANCH_SMTP_URL",
                             help="The outgoing server the campaign will use (its ?rate= sets the pace)."),
    public_url: Optional[str] = typer.Option(None, "--public-url", envvar="MAILBRANCH_PUBLIC_URL",
                                             help="The https address leads reach the tracking server at."),
    daily_limit: Optional[int] = typer.Option(None, "--daily-limit", help="Your provider's emails-a-day limit."),
    as_json: bool = typer.Option(False, "--json", help="The checks as JSON."),
) -> None:
    """Check the sender domain's SPF, DKIM and DMARC, the https public URL, one-click unsubscribe, the postal
    address, Gmail's and Yahoo's bulk-sender rules and the emails a day; exit 1 when something fails."""
    from engine.cli.flows import read_leads
    from engine.delivery.preflight import preflight

    flow = read_flow(flow_path)
    settings = smtp_from(smtp, None, None, False)
    lead_list = read_leads(leads)[0] if leads else None
    report = preflight(flow, public_url=public_url, smtp=settings, leads=lead_list, daily_limit=daily_limit)
    if as_json:
        out.print_json(json.dumps(report.as_json()))
    else:
        for check in report.checks:
            line = f"{_MARKS[check.status]} {escape(check.title)}"
            if check.detail:
                line += f": {escape(check.detail)}"
            out.print(line, highlight=False)
        out.print("Ready to send." if report.ready else "Not ready: fix the lines marked ✗ before a real run.",
                  highlight=False)
    if not report.ready:
        raise typer.Exit(1)

"""`status`, `pause`/`resume`, `mailbox` and `event`: what a marketer asks of, and does
to, a campaign that runs in another process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from engine.cli.common import (
    _when,
    app,
    err,
    fail,
    open_db,
    out,
)


@app.command("status")
def status_command(
    db_path: str = typer.Option(..., "--db"),
    campaign: Optional[int] = typer.Option(None, "--campaign", help="Only this campaign id."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Per-node counts (waiting, passed, sent, opened, clicked, failed) and completion."""
    from sqlalchemy import select

    from engine.bounces.figures import campaign_bounces
    from engine.cli.mailflow import print_mailflow
    from engine.control.views import campaign_status
    from engine.flow.fileformat import loads_flow
    from engine.runtime import status as runtime_status
    from engine.store.models import Campaign, read_counter

    db = open_db(db_path)
    runtime_status.ensure_table(db)
    with db.session() as s:
        ids = [campaign] if campaign is not None else list(s.execute(select(Campaign.id)).scalars())
        try:
            statuses = [campaign_status(s, cid) for cid in ids]
        except LookupError as exc:
            fail(str(exc), 1)
        flow_files = dict(s.execute(select(Campaign.id, Campaign.flow_json).where(Campaign.id.in_(ids))).all())
        rejected = read_counter(s, "tracking_rejected")
        delivery = runtime_status.engine_report(s)
        bounces = {cid: campaign_bounces(s, cid) for cid in ids}
    if as_json:
        print(json.dumps({"campaigns": [x.as_json() for x in statuses], "tracking_rejected": rejected,
                          "delivery": delivery,
                          "bounces": {str(cid): b.as_json() for cid, b in bounces.items()}},
                         indent=1, ensure_ascii=False))
        return
    if not statuses:
        out.print("No campaigns in this database yet.")
    out.print(f"Tracking requests rejected (forged, damaged or unknown tokens): {rejected}.")
    print_delivery(delivery)
    print_mailflow(delivery)
    for status in statuses:
        f, hold = status.figures, status.hold
        table = Table(title=f"Campaign {f.campaign_id} “{f.name}”: {f.state}"
                      + (f", complete at {_when(f.complete_at)}" if f.complete_at else "")
                      + (f" at {_when(hold.stopped_at)}" if f.state == "stopped" and hold.stopped_at else "")
                      + (f", paused by you since {_when(hold.paused_at)} (nothing is sent until you resume)"
                         if hold.paused else ""), title_justify="left")
        for column in ("step", "waiting", "passed", "sent", "opened", "clicked", "machine", "failed", "outputs",
                       "ended"):
            table.add_column(column, justify="left" if column == "step" else "right", no_wrap=True)
        flow = loads_flow(flow_files[f.campaign_id])
        for n in f.nodes.values():
            table.add_row(*status_row(n, flow))
        out.print(table)
        if f.converted or flow.extra.get("goal"):
            out.print(f"Converted: {f.converted} of {f.leads} leads.", highlight=False)
        if f.machine_events:
            out.print(f"Machine opens and clicks (privacy proxies, link scanners), not counted above: "
                      f"{f.machine_events}.", highlight=False)
        sent = sum(n.sent for n in f.nodes.values())
        failed = sum(n.send_failed for n in f.nodes.values())
        queued = sum(n.queued for n in f.nodes.values())
        out.print(f"{f.leads} leads, {f.tokens_active} tokens waiting. Sends: {sent} delivered, {queued} in the "
                  f"outbox, {failed} failed, {f.retries} retries. Events: {f.events} ({f.late_events} late, "
                  f"{f.pending_events} not yet handled). Timers pending: {f.pending_waits}.", highlight=False)
        came_back = bounces.get(f.campaign_id)
        if came_back is not None and (came_back.bounced or came_back.soft_bounced or came_back.complained):
            out.print(f"Came back: {came_back.bounced} bounced for good (suppressed), {came_back.soft_bounced} "
                      f"bounced for now, {came_back.complained} marked as spam (suppressed).", highlight=False)
        if status.failed_sends:
            out.print("Failed sends (latest first):", highlight=False)
            for x in status.failed_sends:
                out.print(f"  {x['lead']} <{x['email']}> at {x['node']}, {_when(x['at'])}: {x['error']}",
                          highlight=False)


def status_row(n, flow) -> tuple[str, ...]:
    """One step's cells: the figures its type shows (``NodeType.figures``), its outputs
    counted per port where it has several (a split's branches, YES/NO)."""
    from engine.nodes.registry import node_type

    kind = node_type(n.type)
    shows = set(kind.figures)
    node = flow.find_node(n.node)
    ports = kind.ports(node) if node is not None else kind.fixed_ports
    machine = " · ".join(f"{count} {word}{'s' if count != 1 else ''}"
                         for count, word in ((n.machine_opened, "open"), (n.machine_clicked, "click")) if count)
    return (f"{n.node} ({n.type})", str(n.waiting), str(n.passed),
            f"{n.sent}" + (f" (+{n.queued} queued)" if n.queued else "") if "sent" in shows else "",
            f"{n.opened}" if "opened" in shows else "", f"{n.clicked}" if "clicked" in shows else "",
            machine if "opened" in shows else "",
            str(n.failed + n.send_failed) if (n.failed or n.send_failed) else "",
            " · ".join(f"{p.title} {n.ports.get(p.name, 0)}" for p in ports) if len(ports) > 1 else "",
            str(n.finished) if kind.is_exit else "")


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


#: How the CLI names what the control API calls a field.
_OPTIONS = {"lead": "--lead", "email": "--email", "url": "--url", "machine": "--machine", "type": "the event"}


@app.command("event")
def event_command(
    kind: str = typer.Argument(..., metavar="open|click|convert"),
    db_path: str = typer.Option(..., "--db"),
    lead: Optional[str] = typer.Option(None, "--lead", help="The lead's key (or email address)."),
    email: Optional[str] = typer.Option(None, "--email", help="For an open or click: the email node it is about."),
    url: Optional[str] = typer.Option(None, "--url", help="For a click: the link's URL."),
    machine: bool = typer.Option(False, "--machine",
                                 help="The open or click was made by a machine (a mail privacy proxy, a link "
                                      "scanner): conditions count it only where they say so."),
    csv_path: Optional[Path] = typer.Option(None, "--csv",
                                            help="For convert: a CSV with a header line; the lead keys are in "
                                                 "the column named key, or else the first. One conversion a row."),
    campaign: Optional[int] = typer.Option(None, "--campaign", help="The campaign id (default: the newest)."),
) -> None:
    """Inject a simulated open or click, handled like a real one, or mark leads converted (purchases off email)."""
    from engine.control.campaigns import NotFound, inject
    from engine.control.requests import EVENT_TYPES, BadRequest, EventCommand
    from engine.run.clock import SystemClock

    if kind not in EVENT_TYPES:
        fail("the event must be open, click or convert")
    if csv_path is not None:
        if kind != "convert":
            fail("--csv is for conversions: mailbranch event convert --csv FILE")
        if lead is not None:
            fail("give --lead or --csv, not both")
        _convert_csv(db_path, csv_path, campaign)
        return
    if lead is None:
        fail("--lead: name the lead (its key or email address)" + (", or give --csv FILE" if kind == "convert" else ""))
    try:
        command = EventCommand(kind, lead, email, url, machine)
    except BadRequest as exc:
        fail(f"{_OPTIONS.get(exc.field, exc.field)}: {exc.problem}")
    db = open_db(db_path)
    try:
        event = inject(db, campaign, command, None, SystemClock().now())
    except NotFound as exc:
        fail(str(exc), 1)
    if kind == "convert":
        out.print(f"Recorded the conversion of {event.lead} in campaign {event.campaign}"
                  + (f" (already converted at {_when(event.converted_before)}: this one changes nothing)."
                     if event.converted_before else "; the running campaign finishes the lead's paths within "
                                                    "seconds."), highlight=False)
        return
    out.print(f"Recorded a {'machine ' if machine else ''}{kind} of {email} by {event.lead}; the running campaign "
              "handles it within seconds.", highlight=False)


def _convert_csv(db_path: str, path: Path, campaign: Optional[int]) -> None:
    """One conversion per lead the CSV names; a bad row is reported with its line, the others are recorded."""
    from engine.control.campaigns import NotFound, convert_rows, read_keys_csv
    from engine.run.clock import SystemClock

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})")
    rows, empty = read_keys_csv(text)
    db = open_db(db_path)
    try:
        report = convert_rows(db, campaign, rows, None, SystemClock().now(), empty)
    except NotFound as exc:
        fail(str(exc), 1)
    for rejection in report.rejected:
        err.print(f"[yellow]{path}, line {rejection.line}[/]: {rejection.reason}", highlight=False)
    out.print(f"{report.summary()}.", highlight=False)
    if not report.recorded:
        raise typer.Exit(1)

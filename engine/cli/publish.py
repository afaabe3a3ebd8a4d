"""`publish` and `versions`: change a running campaign's flow without stopping it
(SEMANTICS 11): preview what the edit does to the leads in flight
(``--dry-run``), publish it as a new version, list the versions, show one,
publish one back (rollback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from engine.cli.common import _when, app, err, fail, open_db, out, read_flow

MAP_HELP = ("Where the tokens on a removed node go: OLD=NEW (a node of the edited flow) or OLD=finish "
            "(the default). Repeat for each removed node.")


def pick_campaign(db, campaign: Optional[int]) -> int:
    """The campaign named, or the database's only one."""
    from sqlalchemy import select

    from engine.store.models import Campaign

    with db.session() as s:
        rows = s.execute(select(Campaign.id, Campaign.name).order_by(Campaign.id)).all()
    if campaign is not None:
        if campaign not in {r.id for r in rows}:
            fail(f"there is no campaign {campaign} in this database", 1)
        return campaign
    if not rows:
        fail("this database holds no campaign; start one with 'mailbranch run'", 1)
    if len(rows) > 1:
        fail("this database holds several campaigns (" + ", ".join(f"{r.id} “{r.name}”" for r in rows)
             + "); name one with --campaign ID", 1)
    return rows[0].id


def parse_mapping(values: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old.strip() or not new.strip():
            fail(f"--map {value}: write OLD=NEW (a node of the edited flow) or OLD=finish", 1)
        mapping[old.strip()] = new.strip()
    return mapping


@app.command("publish")
def publish_command(
    flow_path: Path = typer.Argument(..., metavar="FLOW", help="The edited flow file."),
    db_path: str = typer.Option(..., "--db", help="The running campaign's database (SQLite file or PostgreSQL URL)."),
    campaign: Optional[int] = typer.Option(None, "--campaign", help="The campaign id (needed when there are several)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what publishing would do; change nothing."),
    map_: list[str] = typer.Option([], "--map", help=MAP_HELP),
    note: Optional[str] = typer.Option(None, "--note", help="A short note kept with the version."),
    as_json: bool = typer.Option(False, "--json", help="Print the impact (and the result) as JSON."),
) -> None:
    """Publish an edited flow to a running campaign as its next version; --dry-run shows the impact first."""
    flow = read_flow(flow_path)
    db = open_db(db_path)
    _preview_then_publish(db, pick_campaign(db, campaign), flow, parse_mapping(map_), note, dry_run, as_json)


@app.command("versions")
def versions_command(
    db_path: str = typer.Option(..., "--db", help="The campaign's database (SQLite file or PostgreSQL URL)."),
    campaign: Optional[int] = typer.Option(None, "--campaign", help="The campaign id (needed when there are several)."),
    show: Optional[int] = typer.Option(None, "--show", metavar="N", help="Print version N's flow (read-only)."),
    rollback: Optional[int] = typer.Option(None, "--rollback", metavar="N", help="Publish version N back."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --rollback: only show what it would do."),
    map_: list[str] = typer.Option([], "--map", help=MAP_HELP),
    note: Optional[str] = typer.Option(None, "--note", help="With --rollback: a note (default: 'rollback to N')."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List a campaign's versions, print one (--show N), or publish one back (--rollback N)."""
    from engine.flow.fileformat import loads_flow
    from engine.versions.store import version, versions

    db = open_db(db_path)
    campaign_id = pick_campaign(db, campaign)
    if show is not None or rollback is not None:
        number = show if show is not None else rollback
        found = version(db, campaign_id, number)
        if found is None:
            fail(f"campaign {campaign_id} has no version {number}; 'mailbranch versions --db ...' lists them", 1)
        if show is not None:
            print(found.flow_json)
            return
        _preview_then_publish(db, campaign_id, loads_flow(found.flow_json), parse_mapping(map_),
                              note or f"rollback to version {number}", dry_run, as_json)
        return
    rows = versions(db, campaign_id)
    if as_json:
        print(json.dumps([r.as_json() for r in rows], indent=2, ensure_ascii=False))
        return
    table = Table("version", "published", "note", "what it did")
    for r in rows:
        table.add_row(f"{r.number}" + (" (running)" if r.running else ""), _when(r.published_at),
                      escape(r.note or ""), escape(r.did()))
    out.print(table)


def _preview_then_publish(db, campaign_id: int, flow, mapping: dict[str, str], note: Optional[str],
                          dry_run: bool, as_json: bool) -> None:
    from engine.versions.impact import preview
    from engine.versions.plan import PlanError
    from engine.versions.publish import PublishError, publish

    try:
        impact = preview(db, campaign_id, flow, mapping)
        result = None if dry_run else publish(db, campaign_id, flow, mapping=mapping, note=note,
                                              base_version=impact.version)
    except (PublishError, PlanError, LookupError) as exc:
        fail(str(exc), 1)
    if as_json:
        data = {"impact": impact.as_json()}
        if result is not None:
            data["published"] = {"version": result.number, "at": result.published_at, "changes": result.changes}
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    print_impact(impact)
    if result is None:
        out.print("Dry run: nothing changed. Publish without --dry-run to apply it.", highlight=False)
    else:
        out.print(f"Published version {result.number} of campaign {campaign_id} at {_when(result.published_at)}.",
                  highlight=False)


def print_impact(impact) -> None:
    """The impact as a table, node by node, then the leads who gain or lose an email."""
    table = Table("node", "type", "change", "tokens on it", "tokens go to", "waits re-timed", "new ends",
                  "listeners", "get it now", "lose it")
    for n in impact.nodes:
        if n.status == "same" and not (n.gained or n.lost or n.retimed or n.listeners):
            continue
        ends = "" if n.new_ends is None else (_when(n.new_ends[0]) if n.new_ends[0] == n.new_ends[1]
                                             else f"{_when(n.new_ends[0])} … {_when(n.new_ends[1])}")
        listeners = f"{n.listeners}" + (f" (+{n.stop_listening} stop)" if n.stop_listening else "")
        goes = (n.goes_to or "") + (f" ({n.not_sent} queued emails not sent)" if n.not_sent else "")
        table.add_row(escape(n.node), n.type, n.status, str(n.tokens or ""), escape(goes), str(n.retimed or ""),
                      ends, listeners if n.listeners or n.stop_listening else "", str(n.gained or ""),
                      str(n.lost or ""))
    out.print(f"Campaign {impact.campaign_id}, version {impact.version}: {impact.in_flight} leads in flight, "
              f"{impact.leads_simulated} played forward under both versions.", highlight=False)
    out.print(table)
    for word, count, leads in (("would now get an email they would not have got", impact.leads_gaining,
                                impact.gained),
                               ("would lose an email they would have got", impact.leads_losing, impact.lost)):
        if count:
            names = ", ".join(f"{escape(k)} ({', '.join(v)})" for k, v in list(leads.items())[:10])
            more = f" and {count - 10} more" if count > 10 else ""
            out.print(f"{count} leads {word}: {names}{more}.", highlight=False)
    for node, tokens in impact.unmapped.items():
        goes = next(n.goes_to for n in impact.nodes if n.node == node)
        if goes == "finish":
            err.print(f"[yellow]note:[/] {tokens} tokens stand on {escape(node)}, which the edit removes: they "
                      f"finish unless you move them with --map {escape(node)}=NODE.", highlight=False)

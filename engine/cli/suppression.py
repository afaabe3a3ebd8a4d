"""`suppression list|export|import|add|remove`: the installation's suppression list."""

from __future__ import annotations

import json
import sys
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

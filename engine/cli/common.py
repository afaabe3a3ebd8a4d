"""What every command shares: the Typer app, the two consoles, one-sentence
failure, reading a flow, opening a database, the SMTP options."""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from engine.flow.durations import DurationError, parse_duration
from engine.flow.fileformat import FlowFileError, load_flow

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


def _when(ms: Optional[int]) -> str:
    from datetime import datetime

    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

"""`smtp-password`: keep the SMTP password out of command lines."""

from __future__ import annotations

import sys

import typer

from engine.cli.common import (
    app,
    fail,
    out,
)


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

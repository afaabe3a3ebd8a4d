"""What comes back and how fast mail goes out: the bounce mailbox and pacing per domain.

``run`` and ``serve`` take the same options (built here), and
``bounce-password`` keeps the bounce mailbox's password out of command lines.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from engine.cli.common import app, fail, out, warn_if_visible


def bounce_imap_option():
    return typer.Option(None, "--bounce-imap", envvar="MAILBRANCH_BOUNCE_URL",
                        help="The mailbox bounces and complaints come back to: imaps://user@host, or imaps://user@host/FOLDER "
                             "(imap:// for STARTTLS); the password from MAILBRANCH_BOUNCE_PASSWORD, the keyring "
                             "or `mailbranch bounce-password`.")


def bounce_poll_option():
    return typer.Option(60.0, "--bounce-poll", help="Seconds between two reads of the bounce mailbox.")


def pace_option():
    return typer.Option(None, "--pace", help="Rate and connections for one recipient domain (its provider's lane), "
                                             "e.g. gmail.com=10/s,5 or default=20/s,10; repeat for more.")


def warmup_option():
    return typer.Option(None, "--warmup", help="Warm-up ramp per provider: messages on day one, then optionally "
                                               "the daily growth and a ceiling, e.g. 50 or 50,1.5,20000.")


def no_pacing_option():
    return typer.Option(False, "--no-pacing", help="No rate or concurrency per recipient domain (a relay that "
                                                   "paces by itself).")


def bounce_settings_from(url: Optional[str], poll_seconds: float, ca_bundle: Optional[str]):
    """The bounce mailbox's settings (None when none is configured), or one sentence and exit 2."""
    if not url:
        return None
    from engine.bounces.settings import BounceMailboxError, BounceMailboxSettings, with_password

    warn_if_visible(url, "--bounce-imap", "put it in MAILBRANCH_BOUNCE_PASSWORD or the keyring "
                                          "(mailbranch bounce-password)")
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        fail(f"--ca-bundle: {ca_bundle} is not a readable file")
    try:
        settings = BounceMailboxSettings.from_url(url, poll_seconds=poll_seconds, ca_file=ca_bundle)
    except BounceMailboxError as exc:
        fail(f"--bounce-imap: {exc}")
    settings = with_password(settings)
    if not settings.password:
        fail(f"--bounce-imap: no password for {settings.describe()}; set MAILBRANCH_BOUNCE_PASSWORD or store it "
             "with `mailbranch bounce-password`")
    return settings


def pacing_from(paces: Optional[list[str]], warmup: Optional[str], no_pacing: bool):
    """The pacing settings the options describe (None with --no-pacing), or one sentence and exit 2."""
    from engine.delivery.pacing import PacingError, PacingSettings, parse_pace, parse_warmup

    if no_pacing:
        if paces or warmup:
            fail("--no-pacing cannot be given with --pace or --warmup")
        return None
    settings = PacingSettings()
    try:
        for text in paces or []:
            name, pace = parse_pace(text)
            settings = PacingSettings({**settings.paces, name: pace}, settings.warmup, settings.horizon_seconds)
        if warmup:
            settings = PacingSettings(settings.paces, parse_warmup(warmup), settings.horizon_seconds)
    except PacingError as exc:
        fail(str(exc))
    return settings


def relay_option():
    return typer.Option(None, "--relay", envvar="MAILBRANCH_RELAY_URL",
                        help="The public tracking relay (docs/relay.md): its events are pulled into this database "
                             "and links point to it unless --public-url says otherwise.")


def relay_url_from(url: Optional[str]) -> Optional[str]:
    """The relay's base URL (None: no relay), or one sentence and exit 2."""
    if not url:
        return None
    from engine.relay.sync import RelayError, check_relay_url

    try:
        return check_relay_url(url)
    except RelayError as exc:
        fail(f"--relay: {exc}")


@app.command("bounce-password")
def bounce_password_command(
    url: str = typer.Option(..., "--bounce-imap", envvar="MAILBRANCH_BOUNCE_URL",
                            help="The account, without its password: imaps://user@host."),
) -> None:
    """Store the bounce mailbox's password in the system keyring (or an owner-only file).

    The password is read from the terminal without echo, or from standard input.
    """
    import getpass

    from engine.bounces.settings import BounceMailboxError, BounceMailboxSettings, store_password

    try:
        settings = BounceMailboxSettings.from_url(url)
    except BounceMailboxError as exc:
        fail(f"--bounce-imap: {exc}")
    account = f"{settings.username} on {settings.host}"
    password = (getpass.getpass(f"Password of {account}: ") if sys.stdin.isatty()
                else sys.stdin.readline().rstrip("\r\n"))
    if not password:
        fail("no password given; nothing stored", 1)
    try:
        where = store_password(settings, password)
    except OSError as exc:
        fail(f"the password cannot be stored ({exc.strerror or exc}); set MAILBRANCH_BOUNCE_PASSWORD instead")
    out.print(f"Stored the password of {account} in {where}.", highlight=False)


def print_mailflow(report: dict) -> None:
    """``status``: the pacing lanes and what the bounce mailbox last did."""
    from engine.cli.common import _when

    pacing = report.get("pacing")
    if pacing:
        allowance = pacing.get("allowance_today")
        line = "Pacing per recipient domain: " + "; ".join(f"{name} {pace}" for name, pace in
                                                           (pacing.get("paces") or {}).items())
        if allowance is not None:
            line += f". Warm-up: {allowance} messages per provider today"
        out.print(line + ".", highlight=False)
        for name, lane in (pacing.get("lanes") or {}).items():
            if lane.get("sent_today") or lane.get("deferred"):
                out.print(f"  {name}: {lane.get('sent_today', 0)} sent today, {lane.get('in_flight', 0)} on the "
                          f"wire, {lane.get('deferred', 0)} held back for later", highlight=False)
    mailbox = report.get("bounce_mailbox")
    if mailbox:
        outcomes = ", ".join(f"{count} {name}" for name, count in sorted((mailbox.get("outcomes") or {}).items()))
        line = (f"Bounce mailbox {mailbox.get('mailbox')} (as of {_when(mailbox.get('updated_at'))}): "
                f"{mailbox.get('state')}")
        if mailbox.get("last_error"):
            line += f": {mailbox['last_error']}"
        out.print(line + (f"; read {mailbox.get('read', 0)} messages ({outcomes})" if outcomes else "") + ".",
                  highlight=False)

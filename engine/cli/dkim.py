"""`dkim new` / `dkim show`: the sender domain's DKIM key and the DNS record to publish."""

from __future__ import annotations

import typer

from engine.cli.common import app, fail, out

dkim_app = typer.Typer(no_args_is_help=True, help="DKIM keys that sign every email of a sender domain.")
app.add_typer(dkim_app, name="dkim")


def _print_record(key, made: bool) -> None:
    out.print(("Made a DKIM key" if made else "The DKIM key") + f" for {key.domain} (selector {key.selector}); "
              "every email from this domain is signed with it.", highlight=False)
    out.print(f"Publish this TXT record at {key.record_name} with your DNS provider, before sending:",
              highlight=False)
    out.print("")
    out.print(f"  name:  {key.record_name}", highlight=False, soft_wrap=True)
    out.print(f"  value: {key.record_value()}", highlight=False, soft_wrap=True)
    out.print("")
    out.print("As a zone-file line:", highlight=False)
    out.print(key.zone_line(), highlight=False, soft_wrap=True)


@dkim_app.command("new")
def dkim_new(
    domain: str = typer.Option(..., "--domain", help="The sender domain (the part after @ in From)."),
    selector: str = typer.Option(..., "--selector", help="A name for this key, such as mb2026 (letters, digits, -)."),
) -> None:
    """Make a 2048-bit key for the domain, kept owner-only, and print the DNS TXT record to publish."""
    from engine.delivery.dkim_signing import DkimError, new_key

    try:
        key = new_key(domain, selector)
    except DkimError as exc:
        fail(str(exc))
    _print_record(key, made=True)


@dkim_app.command("show")
def dkim_show(domain: str = typer.Option(..., "--domain", help="The sender domain.")) -> None:
    """Print the DNS TXT record of the key the domain signs with."""
    from engine.delivery.dkim_signing import DkimError, load_key
    from engine.delivery.identity import SenderError, check_domain

    try:
        key = load_key(check_domain(domain, "The domain"))
    except (DkimError, SenderError) as exc:
        fail(str(exc))
    if key is None:
        fail(f"{domain} has no DKIM key here; make one with: mailbranch dkim new --domain {domain} --selector mb1", 1)
    _print_record(key, made=False)

"""`test-send`: one email of the flow, with a chosen lead's fields, to your own address."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from engine.cli.common import (
    app,
    ca_option,
    ehlo_option,
    fail,
    open_db,
    out,
    plain_auth_option,
    read_flow,
    smtp_from,
)


@app.command("test-send")
def test_send_command(
    flow_path: Path = typer.Argument(..., metavar="FLOW"),
    node: str = typer.Option(..., "--node", help="The email node to send, such as e1."),
    to: str = typer.Option(..., "--to", help="Where the test goes: your own address."),
    lead: Optional[str] = typer.Option(None, "--lead", help="The lead whose fields fill it in (its id or address)."),
    leads: Optional[Path] = typer.Option(None, "--leads", help="The lead list (CSV) that holds --lead."),
    smtp: str = typer.Option("sandbox", "--smtp", envvar="MAILBRANCH_SMTP_URL",
                             help="The outgoing server, as for run; sandbox keeps it in --db's mailbox."),
    db_path: str = typer.Option("mailbranch.db", "--db", help="With the sandbox: the database whose mailbox keeps it."),
    ehlo_name: Optional[str] = ehlo_option(),
    ca_bundle: Optional[str] = ca_option(),
    allow_plain_auth: bool = plain_auth_option(),
) -> None:
    """Send one email of the flow as a lead would get it, marked [Test]: links untracked, no campaign touched."""
    import asyncio

    from engine.cli.flows import read_leads
    from engine.delivery.identity import SenderError
    from engine.delivery.smtp import MessageProblem
    from engine.delivery.test_send import TestSendError, send_test

    flow = read_flow(flow_path)
    settings = smtp_from(smtp, ehlo_name, ca_bundle, allow_plain_auth)
    fields: dict = {}
    lead_email = to
    if lead is not None:
        if leads is None:
            fail("--lead needs --leads, the list that holds that lead")
        found = next((x for x in read_leads(str(leads))[0]
                      if x.key == lead or (x.email or "").lower() == lead.strip().lower()), None)
        if found is None:
            fail(f"{leads} has no lead “{lead}” (give its id or address)", 1)
        fields, lead_email = dict(found.fields), found.email or to

    async def deliver():
        if not settings.sandbox:
            return await send_test(flow, node, fields, lead_email, to, settings), None
        from engine.delivery.sandbox import SandboxServer

        db = open_db(db_path, must_exist=False)
        async with SandboxServer(db) as sandbox:
            return await send_test(flow, node, fields, lead_email, to, settings.with_port(sandbox.port)), db_path

    try:
        outcome, mailbox = asyncio.run(deliver())
    except (TestSendError, SenderError, MessageProblem) as exc:
        fail(str(exc), 1)
    if not outcome.ok:
        fail(f"the test email was not sent: {outcome.error}", 1)
    where = f"the sandbox mailbox of {mailbox} (mailbranch mailbox --db {mailbox})" if mailbox else settings.host
    out.print(f"Sent the test of {node} to {to} through {where}.", highlight=False)

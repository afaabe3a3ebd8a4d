"""A test send: one email of the flow, filled in with one lead's fields, to the marketer's own address.

It goes through the configured server like the campaign's mail (the same
sender, headers and DKIM signature), so the marketer sees in a real inbox
what a lead will get. It is marked as a test and touches nothing: no send
row, no token, no campaign; its links are not tracked (they go straight to
their pages, no pixel), so opening or clicking it counts no event, and it has
no unsubscribe header or VERP address, so it can neither unsubscribe nor
bounce anyone. The subject starts with ``[Test]`` and the header
``X-Mailbranch-Test`` says why.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Optional

from engine.delivery.dkim_signing import DkimSigner
from engine.delivery.identity import email_identity
from engine.delivery.mime import ascii_address, build_raw
from engine.delivery.render import email_content, preview_email
from engine.delivery.smtp import MessageProblem, Sender, SendOutcome, SmtpSettings

TEST_HEADER = "X-Mailbranch-Test"
TEST_NOTE = "a test send: links not tracked, no campaign state"


class TestSendError(ValueError):
    """The test send cannot be made (unknown node, bad address); one sentence."""

    __test__ = False  # not a pytest class


def build_test_message(flow: Any, node_id: str, fields: Mapping[str, Any], lead_email: str, to: str,
                       signer: Optional[DkimSigner] = None) -> tuple[str, bytes]:
    """``(envelope sender, bytes)`` of the test email of ``node_id`` for a lead with ``fields``."""
    node = next((n for n in flow.nodes if n.id == node_id), None)
    if node is None or node.type != "email":
        emails = ", ".join(n.id for n in flow.nodes if n.type == "email") or "none"
        raise TestSendError(f"“{node_id}” is not an email of this flow (its emails: {emails})")
    identity = email_identity(flow, node)
    rendered = preview_email(email_content(node, flow), fields, lead_email)
    if rendered.errors:
        raise MessageProblem("the template cannot be filled in for this lead: " + "; ".join(rendered.errors))
    message_id = f"<test.{secrets.token_hex(8)}.{node_id}@{identity.domain}>"
    raw = build_raw(sender=identity.from_header(), to=to, subject=f"[Test] {rendered.subject}", html=rendered.html,
                    text=rendered.text, message_id=message_id, unsubscribe_url=None,
                    reply_to=identity.reply_to_header(), extra=((TEST_HEADER, TEST_NOTE),))
    if signer is not None:
        raw = signer.sign(raw, identity.domain)
    return identity.envelope_from(), raw


async def send_test(flow: Any, node_id: str, fields: Mapping[str, Any], lead_email: str, to: str,
                    smtp: SmtpSettings) -> SendOutcome:
    """Build and deliver one test email through ``smtp`` (the sandbox's port already filled in)."""
    from engine.delivery.identity import SenderError, check_address

    try:
        check_address(to, "The test address")
    except SenderError as exc:
        raise TestSendError(str(exc)) from None
    signer = DkimSigner()
    async with Sender(smtp) as sender:
        if to.isascii():
            envelope, raw = build_test_message(flow, node_id, fields, lead_email, to, signer)
            return await sender.send_raw(envelope, [to], raw)

        def build(smtputf8: bool) -> tuple[str, list[str], bytes]:
            address = to if smtputf8 else ascii_address(to)
            envelope, raw = build_test_message(flow, node_id, fields, lead_email, address, signer)
            return envelope, [address], raw

        return await sender.send_built(build)

"""One SMTP mail transaction (MAIL, RCPT, DATA) without re-parsing plain addresses.

aiosmtplib's ``sendmail`` runs every envelope address through the email
package's address parser twice (to validate it, then to quote it): four
parses for one sender and one recipient, a sixth of the outbox's CPU per
message. The outbox's addresses are already checked when leads are imported
and when the sender is read, so a bare ``local@domain`` of plain ASCII
characters goes straight onto the command line here, with the same replies,
exceptions and RSET on failure as ``sendmail``. Anything else (a display
name, a quoted local part, a non-ASCII address for SMTPUTF8) still goes
through ``sendmail`` and its parser.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aiosmtplib
from aiosmtplib.protocol import normalize_message_line_endings

#: A bare ``local@domain`` (dot-atoms only, ASCII): what parseaddr and formataddr give
#: back unchanged, and what may go onto an SMTP command line as it is (no spaces,
#: brackets or line breaks). The MIME writer uses it too, to skip the header parser.
PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                           r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_ACCEPTED_RCPT = (250, 251)


def is_plain(address: str) -> bool:
    return len(address) <= 320 and PLAIN_ADDRESS.fullmatch(address) is not None


async def send_envelope(client: aiosmtplib.SMTP, sender: str, recipients: Sequence[str], raw: bytes,
                        options: Sequence[str] = ()) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    """Like ``client.sendmail(sender, recipients, raw, mail_options=options)``."""
    if not (is_plain(sender) and all(is_plain(r) for r in recipients)):
        return await client.sendmail(sender, list(recipients), raw, mail_options=list(options))
    await client._ehlo_or_helo_if_needed()  # what the server offers (SIZE) is known after EHLO
    mail_args = [option.encode("ascii") for option in options]
    if client.supports_extension("size"):
        # RFC 1870: octets as transmitted, CRLF pairs included.
        mail_args.insert(0, b"SIZE=%d" % len(normalize_message_line_endings(raw)))
    try:
        reply = await client.execute_command(b"MAIL", b"FROM:<" + sender.encode("ascii") + b">", *mail_args)
        if reply.code != 250:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
        refused: dict[str, aiosmtplib.SMTPResponse] = {}
        for recipient in recipients:
            reply = await client.execute_command(b"RCPT", b"TO:<" + recipient.encode("ascii") + b">")
            if reply.code not in _ACCEPTED_RCPT:
                refused[recipient] = reply
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(r.code, r.message, a) for a, r in refused.items()])
        reply = await client.data(raw)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        try:  # leave the connection ready for the next message, as sendmail does
            await client.rset()
        except (ConnectionError, aiosmtplib.SMTPResponseException):
            pass
        raise
    return refused, reply.message

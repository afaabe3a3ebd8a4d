"""What each SMTP failure is about (the message, the server being away, or our session),
and the outgoing-server settings a user can give in the URL or on the command line."""

from __future__ import annotations

import ssl

import aiosmtplib
import pytest

from engine.delivery.mime import ascii_address, ascii_sender
from engine.delivery.smtp import (
    DEFAULT_EHLO_NAME,
    MessageProblem,
    PlainAuthRefused,
    SmtpSettings,
    classify,
)


@pytest.mark.parametrize(("error", "connecting", "scope", "permanent"), [
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(550, "5.1.1 No such user", "a@b.c")]),
     False, "message", True),
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(451, "4.3.0 Busy", "a@b.c")]),
     False, "message", False),
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(554, "5.7.1 Relay access denied",
                                                                       "a@b.c")]), False, "session", False),
    (aiosmtplib.SMTPSenderRefused(550, "5.7.1 Sender not allowed", "shop@x.y"), False, "session", False),
    (aiosmtplib.SMTPSenderRefused(504, "5.5.2 need fully-qualified address", "shop"), False, "session", False),
    (aiosmtplib.SMTPSenderRefused(530, "5.7.0 Authentication required", "shop@x.y"), False, "session", False),
    (aiosmtplib.SMTPSenderRefused(552, "5.3.4 Message size exceeds fixed limit", "shop@x.y"), False, "message",
     True),
    (aiosmtplib.SMTPSenderRefused(451, "4.3.0 Try again", "shop@x.y"), False, "message", False),
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Authentication credentials invalid"), True, "session", False),
    (aiosmtplib.SMTPResponseException(554, "5.7.0 Authentication required"), True, "session", False),
    (aiosmtplib.SMTPHeloError(504, "5.5.2 Helo command rejected"), True, "session", False),
    (aiosmtplib.SMTPHeloError(421, "4.3.2 Shutting down"), True, "server", False),
    (aiosmtplib.SMTPConnectResponseError(554, "5.7.1 Your IP is blocked"), True, "session", False),
    (aiosmtplib.SMTPConnectResponseError(421, "4.7.0 Too many connections"), True, "server", False),
    (aiosmtplib.SMTPDataError(421, "4.4.2 Closing"), False, "server", False),
    (aiosmtplib.SMTPDataError(554, "5.7.1 Content rejected"), False, "message", True),
    (aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."), True, "session", False),
    (ssl.SSLCertVerificationError("certificate verify failed"), True, "session", False),
    (aiosmtplib.SMTPConnectError("Error connecting"), True, "server", False),
    (ConnectionRefusedError(111, "Connection refused"), True, "server", False),
    (aiosmtplib.SMTPServerDisconnected("lost in DATA"), False, "message", False),
    (PlainAuthRefused("the server offers no encryption (STARTTLS), so the password was not sent"), True,
     "session", False),
    (MessageProblem("jörg@exämple.com has non-ASCII characters before the @"), False, "message", True),
])
def test_each_failure_is_about_the_message_the_server_or_our_session(error, connecting, scope, permanent):
    outcome = classify(error, connecting=connecting)
    assert (outcome.scope, outcome.permanent, outcome.ok) == (scope, permanent, False)
    assert outcome.error


def test_starttls_missing_says_so_in_words():
    outcome = classify(aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."),
                       connecting=True)
    assert "offers no STARTTLS" in outcome.error and "nothing was sent without encryption" in outcome.error


def test_settings_from_the_url_and_options():
    plain = SmtpSettings.from_url("smtp://mx.example")
    assert (plain.local_hostname, plain.ca_file, plain.allow_plain_auth) == (DEFAULT_EHLO_NAME, None, False)
    full = SmtpSettings.from_url("smtp://u:p@mx.example?ehlo=mail.shop.example&ca_file=%2Fetc%2Fca.pem"
                                 "&allow_plain_auth=1")
    assert (full.local_hostname, full.ca_file, full.allow_plain_auth) == ("mail.shop.example", "/etc/ca.pem", True)
    over = plain.with_options(local_hostname="shop.example", ca_file="/x.pem", allow_plain_auth=True)
    assert (over.local_hostname, over.ca_file, over.allow_plain_auth) == ("shop.example", "/x.pem", True)
    assert plain.with_options() == plain


def test_idna_for_the_domain_and_a_sentence_for_a_local_part_that_needs_smtputf8():
    assert ascii_address("ann@example.com") == "ann@example.com"
    assert ascii_address("joerg@exämple.com") == "joerg@xn--exmple-cua.com"
    assert ascii_sender("Shop <shop@exämple.com>") == "Shop <shop@xn--exmple-cua.com>"
    with pytest.raises(MessageProblem, match="before the @"):
        ascii_address("jörg@exämple.com")


@pytest.mark.parametrize("value", ["ann@example.com", "a.b+c@x-y.example", "o'neil@x.io", "ANN@EXAMPLE.COM",
                                   "a..b@x.com", ".a@x.com", "Ann <ann@x.com>", "Ann Lee <ann@x.com>", "ann@x"])
def test_the_to_headers_fast_path_writes_what_the_email_package_would(value):
    from email.utils import formataddr, parseaddr

    from engine.delivery.mime import _address

    assert _address(value) == formataddr(parseaddr(value))

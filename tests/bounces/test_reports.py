"""Reading what comes back: real-world DSNs, ARF reports, old-style bounces, unsubscribe emails."""

from __future__ import annotations

import pytest

from engine.bounces.reports import classify_status, read_report

from .support import sample

MID = "<t7.e1.AbCdEfGhIjKlMnOpQrStUv@shop.example>"


@pytest.mark.parametrize("name, kind, status, recipient", [
    ("gmail_user_unknown.eml", "hard", "5.1.1", "no.such.person@gmail.com"),
    ("outlook_mailbox_full.eml", "soft", "5.2.2", "full.box@outlook.com"),
    ("yahoo_policy_block.eml", "soft", "5.7.9", "someone@yahoo.com"),
    ("postfix_delayed.eml", "delayed", "4.4.1", "slow@example.net"),
    ("qmail_bounce.eml", "hard", None, "gone@old-isp.example"),
    ("yahoo_arf_complaint.eml", "complaint", None, "angry@yahoo.com"),
    ("unsubscribe_request.eml", "unsubscribe", None, "ann@example.com"),
    ("arf_auth_failure.eml", "ignored", None, None),
    ("out_of_office.eml", "ignored", None, None),
])
def test_each_sample_reads_as_what_it_is(name, kind, status, recipient):
    report = read_report(sample(name, token="abc234", message_id=MID))
    assert (report.kind, report.status, report.recipient) == (kind, status, recipient)
    assert report.token == "abc234"
    assert report.detail and "\n" not in report.detail


def test_the_complaint_names_its_send_from_inside_the_report():
    """Yahoo's feedback loop writes to the FBL address: the token comes from Original-Mail-From."""
    report = read_report(sample("yahoo_arf_complaint.eml", token="tok777", message_id=MID))
    assert report.token == "tok777" and report.original_message_id == MID


def test_a_dsn_without_verp_still_carries_the_returned_message_id():
    raw = sample("gmail_user_unknown.eml", message_id=MID).replace(b"bounce+nothing@bounces.", b"news@")
    report = read_report(raw)
    assert report.token is None and report.original_message_id == MID and report.kind == "hard"


@pytest.mark.parametrize("status, kind", [
    ("5.1.1", "hard"), ("5.1.10", "hard"), ("5.4.4", "hard"), ("5.0.0", "hard"), ("5.2.1", "hard"),
    ("5.2.2", "soft"), ("5.3.4", "soft"), ("5.7.1", "soft"), ("5.7.26", "soft"), ("4.2.2", "soft"),
    ("2.0.0", None), ("", None), ("junk", None),
])
def test_status_codes_decide_hard_or_soft(status, kind):
    assert classify_status(status) == kind


@pytest.mark.parametrize("raw", [b"", b"\x00\xff garbage", b"Content-Type: multipart/report\r\n\r\nno boundary",
                                 b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
                                 b"--x\r\nContent-Type: message/delivery-status\r\n\r\n\r\n--x--\r\n"])
def test_malformed_messages_are_ignored_not_fatal(raw):
    assert read_report(raw).kind == "ignored"

"""The outbox's fast path writes the same message the email package builds."""

from email import message_from_bytes, policy

import pytest

from engine.delivery.mime import build_raw
from engine.delivery.render import build_message

CASES = [
    dict(sender="Shop <hello@shop.example>", to="ana@example.com", subject="Hi Ana, our offer",
         html="<p>Hi <b>Ana</b></p>", text="Hi Ana"),
    dict(sender="Boulangerie Chloé <chloe@pain.example>", to="Zoë <zoe@example.com>",
         subject="Ça vous dit ? Un café ☕ offert" + " très" * 20,
         html="<p>Bonjour Zoë — " + "x" * 300 + "</p>\n<p>=équals= sign</p>", text="Bonjour Zoë\r\nligne 2\n"),
]


@pytest.mark.parametrize("case", CASES)
def test_fast_bytes_parse_back_to_the_same_message(case):
    common = dict(message_id="<t1.e1.2@mailbranch.local>", unsubscribe_url="http://t.example/u/abc",
                  date="Wed, 25 Nov 2026 10:00:00 GMT")
    reference = build_message(**case, **common)
    fast = message_from_bytes(build_raw(**case, **common), policy=policy.default)
    for header in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert str(fast[header]) == str(reference[header]), header
    assert fast.get_content_type() == "multipart/alternative"
    for subtype in ("plain", "html"):
        ours = fast.get_body(preferencelist=(subtype,)).get_content()
        theirs = reference.get_body(preferencelist=(subtype,)).get_content()
        assert ours.replace("\r\n", "\n").rstrip("\n") == theirs.replace("\r\n", "\n").rstrip("\n")


def test_lines_stay_short_and_end_with_crlf():
    raw = build_raw(**CASES[1], message_id="<x@y>", unsubscribe_url="http://t/u/1")
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 78 for line in lines)
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_ascii_parts_with_short_lines_go_as_7bit_and_others_quoted_printable():
    raw = build_raw(sender="s@x.example", to="t@x.example", subject="S", html="<p>plain ascii</p>",
                    text="Zoë", message_id="<x@y>", unsubscribe_url="http://t/u/1")
    parsed = message_from_bytes(raw, policy=policy.default)
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert html["Content-Transfer-Encoding"] == "7bit" and html.get_content().strip() == "<p>plain ascii</p>"
    assert plain["Content-Transfer-Encoding"] == "quoted-printable" and plain.get_content().strip() == "Zoë"
    long_line = build_raw(sender="s@x.example", to="t@x.example", subject="S", html="x" * 2000, text="t",
                          message_id="<x@y>", unsubscribe_url="http://t/u/1")
    assert b"quoted-printable" in long_line and all(len(line) <= 998 for line in long_line.split(b"\r\n"))

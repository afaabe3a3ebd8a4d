"""Issue 11, items 1 and 4: who an email is from, and headers an inbox accepts.

A sender typed with a comma, a non-ASCII name or an internationalised domain
comes out as the marketer wrote it (parsed back by the email package), and
the envelope is the address, never a piece of the name; every header line
stays under 78 characters where a space allows and never over 998."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime

import pytest

from engine.delivery.identity import (
    DEFAULT_IDENTITY,
    SenderError,
    identity_from,
    parse_mailbox,
    real_run_problem,
    with_default_sender,
)
from engine.delivery.message_ids import feedback_id, list_id
from engine.delivery.mime import build_raw
from engine.flow.fileformat import loads_flow
from engine.flow.validate import validate


def parsed(raw: bytes):
    return message_from_bytes(raw, policy=policy.default)


def raw_for(sender: str, **kwargs) -> bytes:
    identity = identity_from({"address": sender, **kwargs})
    return build_raw(sender=identity.from_header(), to="ann@example.com", subject="Hi", html="<p>x</p>", text="x",
                     message_id="<a@b>", unsubscribe_url="https://t.shop.example/u/1",
                     reply_to=identity.reply_to_header())


def test_a_name_with_a_comma_is_the_name_and_the_envelope_is_the_address():
    identity = identity_from({"address": "Shop, Inc. <news@shop.example>"})
    assert identity.envelope_from() == "news@shop.example"
    message = parsed(raw_for("Shop, Inc. <news@shop.example>"))
    (address,) = message["From"].addresses
    assert (address.display_name, address.addr_spec) == ("Shop, Inc.", "news@shop.example")


def test_a_non_ascii_name_with_a_comma_and_an_idn_domain_are_encoded():
    raw = raw_for("Bäckerei Müller, GmbH <info@bäckerei.example>", reply_to="Hilfe <hilfe@bäckerei.example>")
    head = raw.split(b"\r\n\r\n")[0]
    assert head.isascii()  # RFC 2047 name, IDNA domain: every server takes it
    message = parsed(raw)
    (address,) = message["From"].addresses
    assert address.display_name == "Bäckerei Müller, GmbH"
    assert address.addr_spec == "info@xn--bckerei-5wa.example"
    assert message["Reply-To"].addresses[0].addr_spec == "hilfe@xn--bckerei-5wa.example"
    identity = identity_from({"address": "Bäckerei Müller, GmbH <info@bäckerei.example>"})
    assert identity.domain == "xn--bckerei-5wa.example"


def test_flow_fields_give_name_reply_to_and_return_path_domain():
    identity = identity_from({"name": "Spring Shop", "address": "news@shop.example", "reply_to": "help@shop.example",
                              "return_path_domain": "Bounces.Shop.example"})
    assert identity.from_header() == "Spring Shop <news@shop.example>"
    assert identity.reply_to_header() == "help@shop.example"
    assert identity.bounce_domain == "bounces.shop.example"
    assert identity.envelope_from("abc234") == "bounce+abc234@bounces.shop.example"
    # No Return-Path domain: the From domain.
    assert identity_from({"address": "news@shop.example"}).envelope_from("abc") == "bounce+abc@shop.example"


def test_an_email_node_sender_overrides_the_campaign_from():
    identity = identity_from({"address": "news@shop.example", "reply_to": "help@shop.example"},
                             "Offers <offers@shop.example>")
    assert identity.from_header() == "Offers <offers@shop.example>"
    assert identity.reply_to_header() == "help@shop.example"


@pytest.mark.parametrize("value, words", [
    ({"address": "news@shop"}, "is not a usable email address"),
    ({"address": "Shop <not an address>"}, "is not a usable email address"),
    ({"name": "Shop"}, "has no address"),
    ({"address": "news@shop.example", "return_path_domain": "bad domain"}, "is not a domain name"),
    ({"address": "news@shop.example", "reply_to": "help@"}, "Reply-To"),
    ({"address": "a@b.example\r\nBcc: x@y.example"}, "line break"),
])
def test_a_malformed_sender_is_one_sentence(value, words):
    with pytest.raises(SenderError) as caught:
        identity_from(value)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_no_sender_at_all_is_the_sandbox_default():
    assert identity_from(None) is DEFAULT_IDENTITY and not DEFAULT_IDENTITY.configured
    assert parse_mailbox('"Shop \\"Best\\"" <a@shop.example>').name == 'Shop "Best"'


def flow(**top) -> object:
    import json

    data = {"format": "mailbranch.flow/1", "name": "F", **top,
            "nodes": [{"id": "start", "type": "start"},
                      {"id": "e1", "type": "email", "subject": "Hi", "html": "<p>x</p>"},
                      {"id": "end", "type": "end"}],
            "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "end"}]}
    return loads_flow(json.dumps(data))


def test_validate_reports_a_malformed_sender_as_a_bad_setting():
    findings = validate(flow(sender={"address": "news@shop"}))
    bad = [f for f in findings if f.code == "bad-setting"]
    assert bad and bad[0].is_error and "news@shop" in bad[0].message
    assert not [f for f in validate(flow(sender={"address": "news@shop.example"})) if f.is_error]
    assert not [f for f in validate(flow()) if f.is_error]  # no sender: fine (the sandbox needs none)


def test_a_real_run_needs_a_sender_domain_and_an_https_public_url():
    assert "no sender domain" in real_run_problem(flow(), "https://t.shop.example")
    assert "https public URL" in real_run_problem(flow(sender={"address": "news@shop.example"}), None)
    assert "https public URL" in real_run_problem(flow(sender={"address": "news@shop.example"}),
                                                  "http://127.0.0.1:8025")
    assert real_run_problem(flow(sender={"address": "news@shop.example"}), "https://t.shop.example") is None
    defaulted = with_default_sender({"name": "F"}, {"address": "news@shop.example", "name": "Shop", "x": "y"})
    assert defaulted["sender"] == {"address": "news@shop.example", "name": "Shop"}


def test_headers_fold_under_78_never_over_998_with_a_numeric_date_zone():
    subject = " ".join(f"word{i}" for i in range(200))  # 1,289 characters of ASCII
    raw = build_raw(sender="Shop <news@shop.example>", to="ann@example.com", subject=subject, html="<p>x</p>",
                    text="x", message_id="<a@b>", unsubscribe_url="https://t.shop.example/u/" + "x" * 20,
                    unsubscribe_mailto="mailto:unsubscribe+abc@shop.example",
                    list_id=list_id("Spring offer (sample), 2026", "uid_-1", "shop.example"),
                    feedback_id=feedback_id("uid_-1", "e1", "shop.example"))
    head = raw.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    message = parsed(raw)
    assert message["Subject"] == subject
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", message["Date"])
    assert parsedate_to_datetime(message["Date"]).utcoffset().total_seconds() == 0
    assert message["List-Unsubscribe"] == ("<https://t.shop.example/u/" + "x" * 20 + ">, "
                                           "<mailto:unsubscribe+abc@shop.example>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == '"Spring offer (sample), 2026" <uid_-1.shop.example>'
    assert message["Feedback-ID"] == "uid_-1:e1:shop.example"


def test_a_subject_with_one_huge_word_stays_under_998():
    raw = build_raw(sender="news@shop.example", to="ann@example.com", subject="x" * 990, html="<p>x</p>",
                    text="x", message_id="<a@b>", unsubscribe_url="https://t.example/u/1")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert parsed(raw)["Subject"] == "x" * 990

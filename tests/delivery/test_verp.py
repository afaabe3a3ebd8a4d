"""VERP addresses: a bounce or an unsubscribe email names its send, and nobody else can forge one."""

from __future__ import annotations

import pytest

from engine.delivery.tracking_tokens import TrackingTokens
from engine.delivery.verp import (
    BOUNCE,
    UNSUBSCRIBE,
    SendClaim,
    VerpTokens,
    bounce_address,
    parse_verp,
    unsubscribe_mailto,
)
from engine.store.models import new_campaign_uid

SECRET = "s" * 64


def test_round_trip_through_a_case_folding_server():
    tokens = VerpTokens(SECRET)
    uid = new_campaign_uid()
    token = tokens.make(uid, 987_654_321)
    address = bounce_address(token, "Shop.Example")
    assert address == f"bounce+{token}@shop.example"
    assert len(address.split("@")[0]) <= 64
    kind, back = parse_verp(address.upper())
    assert kind == BOUNCE
    assert tokens.read(back) == SendClaim(uid, 987_654_321)


def test_unsubscribe_mailto_fits_a_local_part_and_parses_back():
    tokens = VerpTokens(SECRET)
    token = tokens.make(new_campaign_uid(), 2**40)
    mailto = unsubscribe_mailto(token, "news.shop.example")
    local = mailto.removeprefix("mailto:").split("@")[0]
    assert len(local) <= 64 and local == local.lower()
    assert parse_verp(mailto) == (UNSUBSCRIBE, token)
    assert parse_verp(f'"Shop" <{mailto.removeprefix("mailto:")}>') == (UNSUBSCRIBE, token)


def test_idn_domain_goes_on_the_envelope_as_its_a_label():
    assert bounce_address("abc", "bücher.example") == "bounce+abc@xn--bcher-kva.example"


def test_a_tracking_tokens_instance_makes_verp_tokens_with_the_same_secret():
    uid = new_campaign_uid()
    token = TrackingTokens(SECRET).verp.make(uid, 7)
    assert VerpTokens(SECRET).read(token) == SendClaim(uid, 7)


def test_non_standard_campaign_uids_round_trip():
    tokens = VerpTokens(SECRET)
    assert tokens.read(tokens.make("spring-uid", 3)) == SendClaim("spring-uid", 3)


def test_forged_damaged_and_foreign_tokens_are_refused():
    tokens = VerpTokens(SECRET)
    token = tokens.make(new_campaign_uid(), 42)
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for i in range(len(token)):
        for c in alphabet:
            if c != token[i]:
                assert tokens.read(token[:i] + c + token[i + 1:]) is None
    assert VerpTokens("another installation's secret").read(token) is None
    assert tokens.read(token[:-1]) is None
    assert tokens.read(token + "a") is None
    for junk in ("", "bounce", "!!!", None, 42, "a" * 500):
        assert tokens.read(junk) is None


@pytest.mark.parametrize("address", [
    "news@shop.example", "bounce@shop.example", "other+abc@shop.example",
    "bounce+@shop.example", "bounce+a.b@shop.example", "not an address", "", None,
])
def test_addresses_that_are_not_ours_parse_to_none(address):
    assert parse_verp(address) is None


def test_making_a_token_refuses_what_cannot_name_a_send():
    tokens = VerpTokens(SECRET)
    with pytest.raises(ValueError):
        tokens.make("", 1)
    with pytest.raises(ValueError):
        tokens.make("uid", "1")
    with pytest.raises(ValueError):
        tokens.make("u" * 40, 1)
    with pytest.raises(ValueError):
        bounce_address("has space", "shop.example")

from __future__ import annotations

import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.delivery.tracking_tokens import (
    ClickClaim,
    OpenClaim,
    SecretFileError,
    TrackingTokens,
    UnsubscribeClaim,
    load_or_create_secret,
)

TOKENS = TrackingTokens(b"0123456789abcdef0123456789abcdef")


UID = "Xq3v9Lr0bS2mTzK7aP1wYg"  # a campaign uid as new_campaign_uid() makes them


def test_tokens_round_trip_their_claims(tokens):
    assert tokens.read_open(tokens.open_token(UID, 41)) == OpenClaim(UID, 41)
    url = "https://shop.example/offer?a=1&b=2#top"
    assert tokens.read_click(tokens.click_token(UID, 41, url)) == ClickClaim(UID, 41, url)
    assert tokens.read_unsubscribe(tokens.unsubscribe_token(UID, "lead-7", "Ann@Example.com")) == \
        UnsubscribeClaim(UID, "lead-7", "Ann@Example.com")


def test_tokens_name_their_campaign_by_uid_not_by_integer_id(tokens):
    with pytest.raises(ValueError, match="uid"):
        tokens.open_token(3, 41)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="address"):
        tokens.unsubscribe_token(UID, 9, "")


def test_release_0_1_tokens_still_verify_but_name_no_campaign(tokens):
    """A token of release 0.1 carried the integer id, which another database reuses:
    it is read as a genuine token of an unknown campaign (its click still has its URL)."""
    old = tokens._serializers
    assert tokens.read_open(old["open"].dumps([3, 41])) == OpenClaim(None, 41)
    assert tokens.read_click(old["click"].dumps([3, 41, "https://shop.example/"])) == \
        ClickClaim(None, 41, "https://shop.example/")
    assert tokens.read_unsubscribe(old["unsubscribe"].dumps([3, 9])) == UnsubscribeClaim(None, 9, None)


def test_tokens_are_short(tokens):
    assert len(tokens.open_token(UID, 987654)) < 80
    assert len(tokens.click_token(UID, 987654, "https://shop.example/offer")) < 120


def test_forged_token_from_another_installation_is_refused(tokens):
    other = TrackingTokens(b"another installation's secret....")
    assert tokens.read_open(other.open_token(UID, 41)) is None
    assert tokens.read_click(other.click_token(UID, 41, "https://evil.example/")) is None
    assert tokens.read_unsubscribe(other.unsubscribe_token(UID, 9, "ann@example.com")) is None


def test_truncated_and_damaged_tokens_are_refused(tokens):
    token = tokens.click_token(UID, 41, "https://shop.example/offer")
    assert tokens.read_click(token[:-1]) is None
    assert tokens.read_click(token[:10]) is None
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    assert tokens.read_click(flipped) is None
    assert tokens.read_click("") is None


def test_a_token_only_works_for_its_own_purpose(tokens):
    open_token = tokens.open_token(UID, 41)
    assert tokens.read_click(open_token) is None
    assert tokens.read_unsubscribe(open_token) is None
    assert tokens.read_open(tokens.unsubscribe_token(UID, 41, "ann@example.com")) is None


def test_only_http_links_can_be_signed(tokens):
    with pytest.raises(ValueError):
        tokens.click_token(UID, 1, "javascript:alert(1)")


def test_secret_is_created_once_private_and_reused(tmp_path):
    path = tmp_path / "conf" / "tracking.secret"
    first = load_or_create_secret(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert len(first) >= 32
    other = load_or_create_secret(tmp_path / "other.secret")
    assert other != first


def test_damaged_secret_file_is_a_clear_error(tmp_path):
    path = tmp_path / "tracking.secret"
    path.write_text("short")
    with pytest.raises(SecretFileError, match="Delete the file"):
        load_or_create_secret(path)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_random_input_never_crashes_and_never_verifies(text):
    tokens = TOKENS
    assert tokens.read_open(text) is None
    assert tokens.read_click(text) is None
    assert tokens.read_unsubscribe(text) is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABCXYZabcxyz0123456789-_", min_size=22, max_size=22),
       st.integers(min_value=0, max_value=2**40), st.data())
def test_any_single_change_to_a_genuine_token_is_refused(campaign, send, data):
    tokens = TOKENS
    token = tokens.open_token(campaign, send)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from("ABCabc0123-_.").filter(lambda c: c != token[position]))
    damaged = token[:position] + replacement + token[position + 1:]
    claim = tokens.read_open(damaged)
    # base64 padding bits can make two spellings decode alike; then the claim must be unchanged
    assert claim is None or claim == OpenClaim(campaign, send)


def test_tokens_are_exactly_what_itsdangerous_signs_so_links_already_sent_keep_working():
    """The signer caches its derived keys; the tokens themselves must not change."""
    from itsdangerous import URLSafeSerializer

    secret = b"s" * 40
    tokens = TrackingTokens(secret)
    plain = {purpose: URLSafeSerializer(secret, salt=f"mailbranch.{purpose}")
             for purpose in ("open", "click", "unsubscribe")}
    assert tokens.open_token("uid1", 7) == plain["open"].dumps(["uid1", 7])
    assert tokens.click_token("uid1", 7, "https://shop.example/a") == plain["click"].dumps(
        ["uid1", 7, "https://shop.example/a"])
    for _ in range(3):  # read back many times with the cached keys
        assert tokens.read_open(plain["open"].dumps(["uid1", 8])).send_id == 8
    assert tokens.read_open(URLSafeSerializer(b"t" * 40, salt="mailbranch.open").dumps(["uid1", 8])) is None


def test_tokens_are_the_ones_plain_itsdangerous_makes_so_links_already_sent_keep_working():
    """Signing goes through OpenSSL in one call; a link in an email sent before that must still be read."""
    from itsdangerous import URLSafeSerializer

    secret = b"0123456789abcdef0123456789abcdef"
    url = "https://shop.example/" + "offer/" * 20  # long enough to be compressed
    for salt, payload, ours in (
        ("mailbranch.open", [UID, 41], TOKENS.open_token(UID, 41)),
        ("mailbranch.click", [UID, 41, url], TOKENS.click_token(UID, 41, url)),
        ("mailbranch.unsubscribe", [UID, 7, "ann@example.com"], TOKENS.unsubscribe_token(UID, 7, "ann@example.com")),
    ):
        plain = URLSafeSerializer(secret, salt=salt)
        assert ours == plain.dumps(payload)
        assert plain.loads(ours) == payload
    assert TOKENS.read_click(URLSafeSerializer(secret, salt="mailbranch.click").dumps([UID, 41, url])).url == url
    assert TOKENS.read_open(URLSafeSerializer(secret, salt="mailbranch.click").dumps([UID, 41])) is None

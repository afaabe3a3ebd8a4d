"""Issue 11, item 2: every message of a sender domain with a key is DKIM-signed, and
dkimpy's verifier accepts it against the record ``mailbranch dkim new`` prints
(served by a stub DNS function); a changed header or body fails it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from engine.delivery.compose import Outgoing
from engine.delivery.dkim_signing import DkimSigner, load_key, new_key, verify
from engine.delivery.tracked_links import TrackingUrls
from engine.delivery.tracking_tokens import TrackingTokens
from engine.flow.fileformat import loads_flow

UID = "AbCdEfGhIjKlMnOpQrStUv"


def flow(sender: dict):
    return loads_flow(json.dumps({
        "format": "mailbranch.flow/1", "name": "Spring", "sender": sender,
        "nodes": [{"id": "start", "type": "start"},
                  {"id": "e1", "type": "email", "subject": "Hi {{ first_name }}, a long subject " + "x " * 40,
                   "html": "<p>Hello <a href='https://shop.example/a'>offer</a></p>"},
                  {"id": "end", "type": "end"}],
        "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "end"}]}))


def build(sender: dict, to: str = "ann@example.com") -> tuple[str, bytes]:
    f = flow(sender)
    tokens = TrackingTokens("s" * 64)
    urls = TrackingUrls("https://t.shop.example", tokens, UID, 7, 3, to)
    return Outgoing.for_node(f, f.node("e1")).build({"first_name": "Zoë"}, to=to, urls=urls, message_id="<m1@x>",
                                                    tokens=tokens, send_id=7, signer=DkimSigner())


def published(*domains: str) -> dict[str, str]:
    """What the domains published, as the DNS would serve it."""
    return {key.record_name: key.record_value() for key in (load_key(d) for d in domains)}


def test_a_signed_message_verifies_against_the_published_record(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path))
    new_key("shop.example", "mb1")
    envelope, raw = build({"name": "Shop, Inc.", "address": "news@shop.example"})
    assert envelope.startswith("bounce+") and envelope.endswith("@shop.example")
    header = raw.split(b"\r\n\r\n")[0].decode()
    signature = header.split("DKIM-Signature:", 1)[1].split("\r\nFrom:")[0]
    tags = dict(part.strip().split("=", 1) for part in signature.replace("\r\n", "").split(";") if "=" in part)
    assert (tags["a"], tags["c"], tags["d"], tags["s"]) == ("rsa-sha256", "relaxed/relaxed", "shop.example", "mb1")
    signed = {h.strip().lower() for h in tags["h"].split(":")}
    assert {"from", "subject", "date", "message-id", "to", "list-unsubscribe",
            "list-unsubscribe-post"} <= signed
    assert verify(raw, published("shop.example"))
    # Tampering is caught: a header, then the body.
    assert not verify(raw.replace(b"Message-ID: <m1@x>", b"Message-ID: <m2@x>"), published("shop.example"))
    assert not verify(raw.replace(b"Hello", b"Hullo"), published("shop.example"))
    # Another key's record (a stale or wrong DNS entry) does not verify it.
    new_key("other.example", "mb1")
    wrong = {"mb1._domainkey.shop.example": published("other.example")["mb1._domainkey.other.example"]}
    assert not verify(raw, wrong)


def test_an_idn_sender_domain_signs_with_its_ascii_name(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path))
    key = new_key("bäckerei.example", "mb1")
    assert key.domain == "xn--bckerei-5wa.example"
    _envelope, raw = build({"name": "Bäckerei Müller, GmbH", "address": "info@bäckerei.example"}, "zoë@example.com")
    assert b"d=xn--bckerei-5wa.example" in raw
    assert verify(raw, published("xn--bckerei-5wa.example"))


def test_without_a_key_messages_go_unsigned(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path))
    _envelope, raw = build({"address": "news@shop.example"})
    assert b"DKIM-Signature" not in raw


def test_dkim_new_keeps_the_key_owner_only_and_prints_the_record(tmp_path):
    env = {**os.environ, "MAILBRANCH_HOME": str(tmp_path)}
    made = subprocess.run([sys.executable, "-m", "engine.cli", "dkim", "new", "--domain", "Shop.Example",
                           "--selector", "mb2026"], env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert "mb2026._domainkey.shop.example" in made.stdout and "v=DKIM1; k=rsa; p=MII" in made.stdout
    path = tmp_path / "dkim" / "shop.example" / "mb2026.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "dkim").stat().st_mode) == 0o700
    again = subprocess.run([sys.executable, "-m", "engine.cli", "dkim", "new", "--domain", "shop.example",
                            "--selector", "mb2026"], env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    bad = subprocess.run([sys.executable, "-m", "engine.cli", "dkim", "new", "--domain", "not a domain",
                          "--selector", "x"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "is not a domain name" in bad.stderr

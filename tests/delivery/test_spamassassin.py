"""Issue 11, item 4: the sample campaign's emails, as the outbox writes them, pass SpamAssassin.

Real SpamAssassin (Debian's ``spamassassin``, installed by ``scripts/install
--test``) with local rules only (``-L``: no DNS or network tests), over every
email of the sample flow for a lead, with the default settings (no sender set
up, as the sandbox runs it) and with a sender of the marketer's own and a DKIM
key. No message-structure rule may fire and every score stays under 2.0."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.delivery.compose import Outgoing
from engine.delivery.dkim_signing import DkimSigner, new_key
from engine.delivery.message_ids import message_id
from engine.delivery.tracked_links import TrackingUrls
from engine.delivery.tracking_tokens import TrackingTokens
from engine.flow.fileformat import loads_flow

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "flows" / "sample.json"
UID = "AbCdEfGhIjKlMnOpQrStUv"
#: SpamAssassin rules about how a message is built (headers, MIME, HTML); none may fire.
STRUCTURE = re.compile(r"^(HTML_IMAGE_ONLY|HTML_SHORT|LIST_PARTIAL|MIME_|MISSING_|INVALID_|DATE_IN|"
                       r"HEADER_|FROM_|MSGID|TVD_|HTML_MIME|HTML_TAG|HTML_OBFUSCATE|HTML_FONT|"
                       r"SUBJ_|EMPTY_|BAD_|NO_TEXT|MPART|TO_NO_BRKTS|HK_|FSL_HELO)")

pytestmark = pytest.mark.skipif(shutil.which("spamassassin") is None,
                                reason="SpamAssassin is not installed (scripts/install --test installs it)")


def sample_messages(flow_data: dict, signer=None) -> list[bytes]:
    flow = loads_flow(json.dumps(flow_data))
    tokens = TrackingTokens("s" * 64)
    messages = []
    for send_id, node in enumerate((n for n in flow.nodes if n.type == "email"), start=11):
        outgoing = Outgoing.for_node(flow, node)
        urls = TrackingUrls("https://track.spring-shop.example", tokens, UID, send_id, 3, "ann@example.com")
        _envelope, raw = outgoing.build({"first_name": "Ann", "email": "ann@example.com"}, to="ann@example.com",
                                        urls=urls, tokens=tokens, send_id=send_id, signer=signer,
                                        message_id=message_id(UID, 5, node.id, outgoing.identity.domain))
        messages.append(raw)
    return messages


def spamassassin(messages: list[bytes], tmp_path: Path) -> list[tuple[float, list[str]]]:
    """(score, rules that fired) per message, from one ``spamassassin --mbox -t -L`` run."""
    mbox = tmp_path / "sample.mbox"
    with mbox.open("wb") as out:
        for raw in messages:
            body = raw.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ")
            out.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" + body + b"\n")
    result = subprocess.run(["spamassassin", "--mbox", "-t", "-L"], stdin=mbox.open("rb"), capture_output=True,
                            timeout=120, check=False)
    text = result.stdout.decode("utf-8", "replace")
    reports = []
    for status in re.finditer(r"^X-Spam-Status: \w+, score=(-?[\d.]+) required=[\d.]+ tests=(.*?)\sautolearn",
                              text, re.MULTILINE | re.DOTALL):
        rules = [r for r in re.split(r"[\s,]+", status.group(2)) if r and r != "none"]
        reports.append((float(status.group(1)), rules))
    assert len(reports) == len(messages), text[-2000:]
    return reports


def test_the_sample_campaign_scores_under_2_with_default_settings(tmp_path):
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    for score, rules in spamassassin(sample_messages(data), tmp_path):
        assert score < 2.0, rules
        assert not [r for r in rules if STRUCTURE.match(r)], rules


def test_a_set_up_sender_with_dkim_and_a_one_line_email_score_under_2(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    new_key("spring-shop.example", "mb1")
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["sender"] = {"name": "Spring Shop, Inc.", "address": "news@spring-shop.example",
                      "reply_to": "help@spring-shop.example"}
    # The shortest email a marketer might write: the layout keeps it a well-formed, full document.
    data["nodes"][1]["html"], data["nodes"][1]["format"] = "Hi {{ first_name }}.", "markdown"
    messages = sample_messages(data, DkimSigner())
    assert all(raw.startswith(b"DKIM-Signature:") for raw in messages)
    for score, rules in spamassassin(messages, tmp_path):
        assert score < 2.0, rules
        assert not [r for r in rules if STRUCTURE.match(r)], rules

"""Issue 11, items 1 and 6: `run` against a real server refuses, with one sentence, to
start without a sender domain and an https public URL (the sandbox needs
nothing); `test-send` delivers one email with a lead's fields, marked as a
test, and touches no campaign."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

from .test_cli import sql

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "flows" / "sample.json"
LEADS = ROOT / "resources" / "leads" / "sample-leads.csv"


def mailbranch(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MAILBRANCH_HOME": str(home)}
    env.pop("MAILBRANCH_SMTP_URL", None)
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=env)


def test_run_to_a_real_server_refuses_without_a_sender_domain_or_https_url(tmp_path):
    db = tmp_path / "run.db"
    no_sender = mailbranch("run", SAMPLE, "--leads", LEADS, "--db", db, "--smtp", "smtp://mail.invalid:2525",
                           "--public-url", "https://t.shop.example", home=tmp_path)
    assert no_sender.returncode == 1 and "no sender domain" in no_sender.stderr
    assert "Traceback" not in no_sender.stderr and not db.exists()
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["sender"] = {"name": "Spring Shop", "address": "news@spring-shop.example"}
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(data), encoding="utf-8")
    no_https = mailbranch("run", flow, "--leads", LEADS, "--db", db, "--smtp", "smtp://mail.invalid:2525",
                          home=tmp_path)
    assert no_https.returncode == 1 and "https public URL" in no_https.stderr and not db.exists()
    real = mailbranch("validate", SAMPLE, "--real", home=tmp_path)
    assert real.returncode == 1 and "bad-setting" in real.stdout and "no sender" in real.stdout
    assert mailbranch("validate", flow, "--real", home=tmp_path).returncode == 0
    bad = dict(data, sender={"address": "Spring Shop, news@"})
    flow.write_text(json.dumps(bad), encoding="utf-8")
    invalid = mailbranch("validate", flow, home=tmp_path)
    assert invalid.returncode == 1 and "bad-setting" in invalid.stdout + invalid.stderr


def test_a_test_send_reaches_the_mailbox_marked_and_untracked(tmp_path):
    db = tmp_path / "box.db"
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["sender"] = {"name": "Spring Shop, Inc.", "address": "news@spring-shop.example",
                      "reply_to": "help@spring-shop.example"}
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(data), encoding="utf-8")
    assert mailbranch("dkim", "new", "--domain", "spring-shop.example", "--selector", "mb1",
                      home=tmp_path).returncode == 0
    sent = mailbranch("test-send", flow, "--node", "e1", "--lead", "ben@example.com", "--leads", LEADS,
                      "--to", "me@spring-shop.example", "--db", db, home=tmp_path)
    assert sent.returncode == 0, sent.stderr
    ((mail_from, raw),) = sql(db, "SELECT mail_from, raw FROM mailbox_messages")
    message = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default)
    assert message["Subject"] == "[Test] Hi Ben, our spring offer"
    assert message["To"] == "me@spring-shop.example" and message["X-Mailbranch-Test"]
    assert message["From"].addresses[0].display_name == "Spring Shop, Inc."
    assert message["Reply-To"] == "help@spring-shop.example" and message["DKIM-Signature"]
    assert mail_from == "news@spring-shop.example"  # no VERP: a test never bounces a lead
    assert message["List-Unsubscribe"] is None
    html = message.get_body(("html",)).get_content()
    assert 'href="https://shop.example/offer"' in html and "/o/" not in html  # untracked, no pixel
    assert sql(db, "SELECT COUNT(*) FROM campaigns") == [(0,)] and sql(db, "SELECT COUNT(*) FROM sends") == [(0,)]
    unknown = mailbranch("test-send", flow, "--node", "w2", "--to", "me@spring-shop.example", "--db", db,
                         home=tmp_path)
    assert unknown.returncode == 1 and "is not an email of this flow" in unknown.stderr

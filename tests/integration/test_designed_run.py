"""``mailbranch run`` of the sample campaign: what reaches the mailbox is the designed
email (Markdown body, theme, postal address), tracked, with a plain-text part."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from email import message_from_bytes, policy
from pathlib import Path

from .test_cli import env, run_args, sql, wait_for  # noqa: F401 - env is a fixture

ROOT = Path(__file__).resolve().parents[2]


def test_a_real_run_of_the_sample_sends_designed_emails(tmp_path, env):  # noqa: F811
    leads = tmp_path / "leads.csv"
    leads.write_text("email,first_name\nann@example.com,Ann\nbob@example.com,\n", encoding="utf-8")
    db = tmp_path / "run.db"
    run = subprocess.Popen(run_args(ROOT / "resources" / "flows" / "sample.json", leads, db), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: sql(db, "SELECT COUNT(*) FROM mailbox_messages") == [(2,)], timeout=60,
                 what="both first emails in the sandbox")
        run.send_signal(signal.SIGINT)
        _out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert "postal address" not in err  # the sample's theme has one
    raws = dict(sql(db, "SELECT rcpt_tos, raw FROM mailbox_messages"))
    ann = next(raw for to, raw in raws.items() if "ann@example.com" in to)
    message = message_from_bytes(ann if isinstance(ann, bytes) else ann.encode(), policy=policy.default)
    assert message["Subject"] == "Hi Ann, our spring offer"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert 'class="mb-container"' in html and "max-width: 600px" in html
    assert "<strong>spring offer</strong>" in html  # the Markdown body, rendered
    assert 'bgcolor="#0F766E"' in html and "Spring Shop, 12 Market Street" in html
    assert re.search(r'<a href="http://127\.0\.0\.1:\d+/c/[^"]+" style="color: #0F766E;', html)  # tracked
    assert re.search(r'<img src="http://127\.0\.0\.1:\d+/o/[^"]+\.gif" width="1"', html)
    assert "Hi Ann," in text and "**" not in text and "Spring Shop, 12 Market Street" in text
    assert "Unsubscribe: http://127.0.0.1:" in text


def test_a_real_run_without_a_postal_address_is_warned(tmp_path, env):  # noqa: F811
    data = json.loads((ROOT / "resources" / "flows" / "sample.json").read_text(encoding="utf-8"))
    del data["theme"]["address"]
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(data), encoding="utf-8")
    leads = tmp_path / "leads.csv"
    leads.write_text("email\nann@example.com\n", encoding="utf-8")
    db = tmp_path / "run.db"
    run = subprocess.Popen(run_args(flow, leads, db), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        wait_for(lambda: sql(db, "SELECT COUNT(*) FROM mailbox_messages") == [(1,)], timeout=60,
                 what="the first email in the sandbox")
        run.send_signal(signal.SIGINT)
        _out, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert "warning the emails carry no postal address" in err and "CAN-SPAM" in err

"""`mailbranch run --bounce-imap ... --pace ...` and `mailbranch status`, from a shell, against the
real Postfix and Dovecot: the bounce is read while the campaign runs, and status says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .support import two_emails

ROOT = Path(__file__).resolve().parents[2]


def mailbranch(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          timeout=180, cwd=ROOT, env={**os.environ, **env})


def test_run_reads_the_bounce_mailbox_and_status_shows_it(mail_servers, tmp_path):
    flow = two_emails("CLI bounce", "4s", {"name": "Shop", "address": "news@shop.example",
                                          "return_path_domain": mail_servers.bounce_domain},
                      theme={"address": "1 Main Street, Springfield"})
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    (tmp_path / "leads.csv").write_text(f"email\nnobody-{tmp_path.name[-6:]}@{mail_servers.local_domain}\n"
                                        "carol@example.com\n")
    db = str(tmp_path / "run.db")
    env = {"MAILBRANCH_HOME": str(tmp_path / "home"), "MAILBRANCH_BOUNCE_PASSWORD": mail_servers.passwords["bounces"],
           "MAILBRANCH_GRACE_MS": "100"}
    run = mailbranch("run", str(tmp_path / "flow.json"), "--leads", str(tmp_path / "leads.csv"), "--db", db,
                     "--smtp", mail_servers.smtp_url, "--tracking-port", "0", "--quiet",
                     "--bounce-imap", f"imap://bounces@{mail_servers.host}:{mail_servers.imap_port}",
                     "--bounce-poll", "0.3", "--ca-bundle", str(mail_servers.certificate),
                     "--pace", "example.com=50/s,2", "--warmup", "100,2", env=env)
    assert run.returncode == 0, run.stderr
    status = mailbranch("status", "--db", db, env=env)
    assert status.returncode == 0, status.stderr
    text = " ".join(status.stdout.split())
    assert "Came back: 1 bounced for good (suppressed)" in text
    assert "Bounce mailbox imap://bounces@127.0.0.1" in text and ": ok;" in text
    assert "example.com 50/s, 2 at once" in text and "Warm-up: 100 messages per provider today" in text
    listed = mailbranch("suppression", "list", "--db", db, env=env)
    assert "nobody-" in listed.stdout and "bounce" in listed.stdout

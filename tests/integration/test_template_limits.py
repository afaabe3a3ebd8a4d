"""A template that a lead's data makes too big fails that lead's send alone (issue 10, item 8).

Validation cannot see ``{{ first_name * 100000 }}`` go wrong: with empty
fields it prints nothing. At run time the renderer refuses it for the lead
whose name makes it too big, with a sentence; the other leads get their email.
Through ``mailbranch run`` and ``status``, as a user runs them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from .support import one_email_json

MAILBRANCH = Path(sys.executable).parent / "mailbranch"


def mb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(MAILBRANCH), *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_lead_whose_data_breaks_a_template_limit_fails_alone_with_the_reason(tmp_path, mailbranch_home):
    env = {**os.environ, "MAILBRANCH_HOME": str(mailbranch_home), "NO_COLOR": "1", "COLUMNS": "200",
           "TERM": "dumb"}
    data = one_email_json("Long names")
    data["nodes"][1]["html"] = "<p>{{ first_name * 200000 }}</p>"
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(data), encoding="utf-8")
    assert mb(env, "validate", str(flow)).returncode == 0  # nothing to see with empty fields

    leads = tmp_path / "leads.csv"
    leads.write_text("email,first_name\nann@example.com,Jo\nbob@example.com,Maximilian Alexander\n"
                     "cy@example.com,Cy\n", encoding="utf-8")
    db = tmp_path / "campaign.db"
    run = mb(env, "run", str(flow), "--leads", str(leads), "--db", str(db), "--smtp", "sandbox",
             "--tracking-port", "0", "--quiet")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr + run.stdout

    status = json.loads(mb(env, "status", "--db", str(db), "--json").stdout)
    (campaign,) = status["campaigns"]
    assert campaign["state"] == "complete"
    (failure,) = campaign["failed_sends"]
    assert failure["email"] == "bob@example.com"
    assert "the html template cannot be filled in" in failure["error"]
    assert "one email holds at most 2,000,000" in failure["error"]

    with sqlite3.connect(db) as conn:
        recipients = sorted(r for (rcpts,) in conn.execute("SELECT rcpt_tos FROM mailbox_messages")
                            for r in json.loads(rcpts))
    assert recipients == ["ann@example.com", "cy@example.com"]

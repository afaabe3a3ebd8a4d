"""`mailbranch relay …` from a shell: clear sentences for what is missing, and a sync that reports what it did."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import aiohttp

from tests.integration.support import query

from .support import BROWSER_UA, ROOT

UID = "campaign-uid-AAAAAAAAAAAA"


def mailbranch(*args: str, home) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "MAILBRANCH_HOME": str(home), "COLUMNS": "200"}, timeout=60)


def test_a_relay_without_the_copied_secrets_says_what_to_copy(tmp_path, mailbranch_home):
    result = mailbranch("relay", "serve", "--data", str(tmp_path / "empty"), "--port", "0", home=mailbranch_home)
    assert result.returncode == 2
    assert "tracking secret" in result.stderr and "copy it from the desktop" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_secrets_command_says_where_both_files_are(mailbranch_home):
    result = mailbranch("relay", "secrets", home=mailbranch_home)
    assert result.returncode == 0
    assert str(mailbranch_home / "tracking.secret") in result.stdout
    assert str(mailbranch_home / "relay-sync.secret") in result.stdout
    assert oct((mailbranch_home / "relay-sync.secret").stat().st_mode & 0o777) == "0o600"


async def test_sync_and_status_from_the_command_line(relay, db, mailbranch_home):
    from engine.relay.secrets import installation_files

    installation_files()
    from engine.delivery.tracking_tokens import TrackingTokens

    tokens = TrackingTokens((mailbranch_home / "tracking.secret").read_text().strip())
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{relay.url}/o/{tokens.open_token(UID, 5)}.gif",
                            headers={"User-Agent": BROWSER_UA}) as response:
            assert response.status == 200
    status = mailbranch("relay", "status", "--relay", relay.url, "--json", home=mailbranch_home)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["waiting"] == 1

    database = str(db.url).removeprefix("sqlite:///")
    synced = mailbranch("relay", "sync", "--db", database, "--relay", relay.url, home=mailbranch_home)
    assert synced.returncode == 0, synced.stderr
    assert "Pulled 1 event from" in synced.stdout and "0 still waiting" in synced.stdout
    # The token's campaign is not in this database: the event is recorded nowhere, but the cursor moved.
    assert query(db, "SELECT COUNT(*) FROM events") == [(0,)]
    assert query(db, "SELECT cursor FROM relay_cursors") == [(1,)]

    wrong = mailbranch("relay", "sync", "--db", database, "--relay", "http://track.example.com",
                       home=mailbranch_home)
    assert wrong.returncode == 2 and "https://" in wrong.stderr and "Traceback" not in wrong.stderr

"""`mailbranch run --relay URL`: links point to the relay, and an open made at the relay
reaches the campaign's condition although the desktop only learns of it by pulling,
as in the app's engine process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import aiohttp

from engine.store.database import Database
from tests.integration.support import mailbox, subjects_by_recipient, until

from .support import BROWSER_UA, ROOT, links_in, two_link_flow


def test_a_relay_that_is_not_https_is_refused_with_a_sentence(tmp_path, mailbranch_home):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(two_link_flow()))
    (tmp_path / "leads.csv").write_text("email,first_name\nann@example.com,Ann\n")
    result = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(flow), "--leads",
                             str(tmp_path / "leads.csv"), "--db", str(tmp_path / "c.db"),
                             "--relay", "http://track.example.com"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "MAILBRANCH_HOME": str(mailbranch_home)}, timeout=60)
    assert result.returncode == 2
    assert "--relay" in result.stderr and "https://" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "c.db").exists() or "Starting" not in result.stderr, "nothing was started"


async def test_an_open_at_the_relay_takes_the_yes_path_of_a_run_from_the_command_line(tmp_path, relay,
                                                                                    mailbranch_home):
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(two_link_flow(wait="5s")))
    (tmp_path / "leads.csv").write_text("email,first_name\nann@example.com,Ann\n")
    database = tmp_path / "campaign.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "run", str(flow), "--leads", str(tmp_path / "leads.csv"),
         "--db", str(database), "--tracking-port", "0", "--quiet", "--relay", relay.url],
        cwd=ROOT, env={**os.environ, "MAILBRANCH_HOME": str(mailbranch_home)}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    db = None
    try:
        await until(database.exists, timeout=30, what="the campaign database")
        db = Database(database)

        def first_email() -> bool:
            try:
                return any(m.subject == "Hi Ann" for m in mailbox(db))
            except Exception:  # noqa: BLE001 - the tables are being made
                return False

        await until(first_email, timeout=30, what="the first email")
        html = next(m for m in mailbox(db) if m.subject == "Hi Ann").body("html")
        pixel = links_in(html)["pixel"][0]
        assert pixel.startswith(relay.url + "/o/"), "the pixel points to the relay"
        async with aiohttp.ClientSession() as http:
            async with http.get(pixel, headers={"User-Agent": BROWSER_UA}) as response:
                assert response.status == 200
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert f"Pulling opens and clicks from the relay at {relay.url}" in stderr
        assert "is complete" in stdout
        # The open (made before the wait ended) took the YES path; the parallel NO path went on too.
        assert subjects_by_recipient(db)["ann@example.com"] == ["Did you miss it?", "Hi Ann", "Thanks for reading"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if db is not None:
            db.dispose()

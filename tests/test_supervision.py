"""Nothing can make the engine look healthy while it sends nothing.

A supervised task that dies is logged, restarted with backoff, and shown by
the control API's ``/health`` (not ok while it is down) and by ``mailbranch
status``; a paused outbox shows in ``status`` with its reason, from another
process, while ``mailbranch run`` waits for the server to accept it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from engine.control.server import ControlServer
from engine.control.service import EngineService
from engine.delivery.smtp import SmtpSettings
from engine.runtime.runner import RunnerSettings
from engine.runtime.supervise import Supervisor
from engine.store.database import Database
from tests.integration.picky_smtp import PickyServer
from tests.integration.support import one_email_json

SECRET = "s3cret-for-this-launch-only-0123456789"
MAILBRANCH = Path(sys.executable).parent / "mailbranch"


@pytest.fixture
def mailbranch_home_env(tmp_path):
    return {**os.environ, "MAILBRANCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "COLUMNS": "200",
            "TERM": "dumb"}


async def _poll(check, timeout: float = 15.0, what: str = "the condition"):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_a_crashed_send_loop_is_restarted_and_health_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    db_path = tmp_path / "engine.db"

    async def scenario():
        db = Database(db_path)
        service = EngineService(db, RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=0,
                                                   poll_seconds=0.05))
        server = ControlServer(service, SECRET)
        await service.start()
        await server.start()
        real_step = service.runner.step
        broken = {"on": True}

        async def step():
            if broken["on"]:
                raise RuntimeError("the send loop met a bug")
            return await real_step()

        service.runner.step = step
        auth = {"Authorization": f"Bearer {SECRET}"}
        base = f"http://127.0.0.1:{server.port}"
        try:
            async with aiohttp.ClientSession() as http:
                async def health():
                    async with http.get(f"{base}/health", headers=auth) as r:
                        return await r.json()

                async def down():
                    h = await health()
                    return h if not h["ok"] else None

                sick = await _poll(down, what="/health to say the send loop is down")
                loop_task = next(t for t in sick["tasks"] if t["name"] == "send loop")
                assert not loop_task["running"]
                assert loop_task["last_error"] == "RuntimeError: the send loop met a bug"
                broken["on"] = False

                async def healed():
                    h = await health()
                    task = next(t for t in h["tasks"] if t["name"] == "send loop")
                    return h if h["ok"] and task["running"] and task["restarts"] >= 1 else None

                well = await _poll(healed, what="/health to say ok after the restart")
                task = next(t for t in well["tasks"] if t["name"] == "send loop")
                assert task["last_error"] == "RuntimeError: the send loop met a bug"
                # And the loop really works again: a simulation runs to the end.
                flow = one_email_json()
                async with http.post(f"{base}/campaigns", headers=auth, json={
                        "flow": flow, "leads": [{"key": "ana", "email": "ana@example.com"}],
                        "simulated": True, "speed": 1_000_000}) as r:
                    campaign = (await r.json())["id"]

                async def complete():
                    async with http.get(f"{base}/campaigns/{campaign}", headers=auth) as r:
                        figures = await r.json()
                    return figures if figures["complete_at"] and figures["nodes"]["e1"]["sent"] == 1 else None

                figures = await _poll(complete, what="the simulation to send its email and complete")
                assert figures["retries_waiting"] == {"count": 0, "next_at": None}
        finally:
            await server.stop()
            await service.stop()
            db.dispose()

    asyncio.run(scenario())
    env = {**os.environ, "MAILBRANCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "COLUMNS": "200"}
    shown = __import__("subprocess").run([str(MAILBRANCH), "status", "--db", str(db_path)], env=env,
                                         capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "Task send loop" in shown.stdout and "the send loop met a bug" in shown.stdout


async def test_supervisor_backs_off_and_reports_each_crash():
    crashes = []
    seen = []

    async def flaky():
        crashes.append(1)
        if len(crashes) < 4:
            raise ValueError(f"crash {len(crashes)}")

    supervisor = Supervisor(base=0.01, cap=0.04, on_change=lambda state: seen.append(state.as_json()))
    await asyncio.wait_for(supervisor.run("flaky", flaky), timeout=5)
    (report,) = supervisor.report()
    assert report["restarts"] == 3 and report["finished"] and report["last_error"] == "ValueError: crash 3"
    assert supervisor.ok
    # Reported when it started, at each crash (down) and restart (running), and when it finished.
    assert [s["running"] for s in seen] == [True] + [False, True] * 3 + [False]
    assert seen[-1]["finished"] and not seen[0]["finished"]


async def test_status_shows_a_paused_outbox_and_why_from_another_process(tmp_path, mailbranch_home_env):
    """``mailbranch run`` against a server that wants a login: status (another process) says paused and why,
    nobody failed; the run keeps waiting instead of failing leads."""
    picky = PickyServer(login=("shop", "secret"))
    await picky.start()
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(one_email_json()), encoding="utf-8")
    leads = tmp_path / "leads.csv"
    leads.write_text("email\nann@example.com\nbob@example.com\n", encoding="utf-8")
    db = tmp_path / "campaign.db"
    run = await asyncio.create_subprocess_exec(
        str(MAILBRANCH), "run", str(flow), "--leads", str(leads), "--db", str(db), "--tracking-port", "0",
        "--quiet", "--smtp", f"smtp://127.0.0.1:{picky.port}", "--ehlo-name", "shop.example",
        env=mailbranch_home_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async def paused():
            shown = await asyncio.create_subprocess_exec(
                str(MAILBRANCH), "status", "--db", str(db), "--json", env=mailbranch_home_env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
            out, _ = await shown.communicate()
            try:
                data = json.loads(out)
            except json.JSONDecodeError:
                return None
            outbox = data.get("delivery", {}).get("outboxes", {}).get("outbox")
            return data if outbox and outbox["state"] == "paused" else None

        data = await _poll(paused, timeout=30, what="status to show the outbox paused")
        outbox = data["delivery"]["outboxes"]["outbox"]
        assert outbox["cause"] == "session" and "530" in outbox["reason"]
        assert "530" in outbox["last_errors"]["session"]["error"]
        (campaign,) = data["campaigns"]
        assert campaign["nodes"]["e1"]["send_failed"] == 0 and campaign["failed_sends"] == []
        human = await asyncio.create_subprocess_exec(
            str(MAILBRANCH), "status", "--db", str(db), env=mailbranch_home_env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, _ = await human.communicate()
        text = out.decode()
        assert "Outbox" in text and "paused since" in text and "530" in text and "next try at" in text
        assert run.returncode is None  # still waiting for the server, not failing anyone
    finally:
        if run.returncode is None:
            run.send_signal(signal.SIGINT)
        await asyncio.wait_for(run.communicate(), timeout=30)
        await picky.stop()
    assert picky.received == []
    assert set(picky.ehlo_names) == {"shop.example"}  # --ehlo-name, on every connection

"""Pausing and stopping a campaign that sends for real (to the built-in sandbox here).

Through the control API the app uses, and through ``mailbranch pause|resume|status``
from another process: while paused nothing more is sent, a wait still fires on
time and its token then stands on the next email in the queue; resuming sends
what fell due, once. Stopping is final: the queue is emptied, no lead is left
"in progress", and the campaign says when it was stopped.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiohttp

from engine.control.service import EngineService
from tests.control_support import engine_with_api
from tests.flows import edge, email, flow

SECRET = "pause-test-secret-0123456789abcdef"
LEADS = [{"key": f"lead{i}", "email": f"lead{i}@example.com", "fields": {}} for i in range(4)]
#: start -> e1 -> w1 (1 s) -> e2 -> end
FLOW = flow([{"id": "start", "type": "start"}, email("e1"), {"id": "w1", "type": "wait", "duration": "1s"},
             email("e2"), {"id": "end", "type": "end"}],
            [edge("start", "e1"), edge("e1", "w1"), edge("w1", "e2"), edge("e2", "end")], name="Pause me")


def mailbranch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base
        self.auth = {"Authorization": f"Bearer {SECRET}"}

    async def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        async with self.http.request(method, self.base + path, headers=self.auth, json=body) as r:
            return r.status, await r.json()

    async def figures(self, campaign: int) -> dict:
        return (await self.call("GET", f"/campaigns/{campaign}"))[1]  # type: ignore[return-value]

    async def until(self, campaign: int, check, what: str, timeout: float = 20.0) -> dict:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            figures = await self.figures(campaign)
            if check(figures):
                return figures
            assert loop.time() < end, f"timed out waiting for {what}: {figures}"
            await asyncio.sleep(0.05)


async def _with_engine(db, scenario):
    async with engine_with_api(db, SECRET) as (service, server), aiohttp.ClientSession() as http:
        return await scenario(Api(http, f"http://127.0.0.1:{server.port}"), service)


def _sent(figures: dict, node: str) -> int:
    return figures["nodes"][node]["sent"]


def _queued(figures: dict, node: str) -> int:
    return figures["nodes"][node]["queued"]


def _mailbox_count(db) -> int:
    from sqlalchemy import func, select

    from engine.delivery.mailbox import MailboxMessage

    with db.session() as s:
        return s.execute(select(func.count()).select_from(MailboxMessage)).scalar()


def test_a_paused_real_campaign_sends_nothing_its_wait_fires_and_resume_sends_the_rest_once(
        engine_db, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    db_arg = str(tmp_path / "engine.db") if engine_db.is_sqlite else engine_db.url

    async def scenario(api: Api, service: EngineService):
        status, body = await api.call("POST", "/campaigns", {
            "flow": json.loads(_flow_json()), "leads": LEADS, "simulated": False})
        assert status == 201
        campaign = body["id"]
        await api.until(campaign, lambda f: _sent(f, "e1") == 4, "e1 to go out")
        status, _ = await api.call("POST", f"/campaigns/{campaign}/pause", {})
        assert status == 200
        figures = await api.figures(campaign)
        assert figures["paused"] is True and figures["paused_at"] and figures["state"] == "running"
        # The 1 s wait fires while paused: every token reaches e2 and stands there, queued, not sent.
        figures = await api.until(campaign, lambda f: _queued(f, "e2") == 4, "the wait to fire while paused")
        assert figures["nodes"]["w1"]["passed"] == 4
        await asyncio.sleep(1.0)  # several outbox passes
        figures = await api.figures(campaign)
        assert _sent(figures, "e2") == 0 and _queued(figures, "e2") == 4
        assert _mailbox_count(engine_db) == 4
        _status, timeline = await api.call("GET", f"/campaigns/{campaign}/leads/lead0")
        assert timeline["paused"] is True  # the lead's queued e2 waits because of the pause
        assert [x["status"] for x in timeline["sends"] if x["node"] == "e2"] == ["queued"]

        # Another process sees the pause, and resumes it.
        shown = await asyncio.to_thread(mailbranch, "status", "--db", db_arg)
        assert shown.returncode == 0, shown.stderr
        assert "paused by you since" in shown.stdout
        resumed = await asyncio.to_thread(mailbranch, "resume", "--db", db_arg, "--campaign", str(campaign))
        assert resumed.returncode == 0, resumed.stderr
        assert "resumes" in resumed.stdout
        figures = await api.until(campaign, lambda f: _sent(f, "e2") == 4 and f["complete_at"], "e2 after resume")
        assert figures["paused"] is False
        await asyncio.sleep(0.5)
        assert _mailbox_count(engine_db) == 8  # every email once: 4 x e1, 4 x e2
        # The pause survives nothing that is over: a complete campaign's status no longer says paused.
        shown = await asyncio.to_thread(mailbranch, "status", "--db", db_arg)
        assert "paused by you" not in shown.stdout

    asyncio.run(_with_engine(engine_db, scenario))


def test_a_pause_survives_an_engine_restart(engine_db, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    db_arg = str(tmp_path / "engine.db") if engine_db.is_sqlite else engine_db.url

    async def first(api: Api, service: EngineService) -> int:
        _status, body = await api.call("POST", "/campaigns", {
            "flow": json.loads(_flow_json()), "leads": LEADS, "simulated": False})
        campaign = body["id"]
        await api.until(campaign, lambda f: _sent(f, "e1") == 4, "e1 to go out")
        status, _ = await api.call("POST", f"/campaigns/{campaign}/pause", {})
        assert status == 200
        paused = await asyncio.to_thread(mailbranch, "pause", "--db", db_arg)
        assert paused.returncode == 0, paused.stderr
        assert "already paused" in paused.stdout and "timers keep their times" in paused.stdout
        return campaign

    async def second(campaign: int):
        async def scenario(api: Api, service: EngineService):
            figures = await api.until(campaign, lambda f: _queued(f, "e2") == 4, "the wait to fire after restart")
            assert figures["paused"] is True
            await asyncio.sleep(0.8)
            assert _sent(await api.figures(campaign), "e2") == 0
            status, _ = await api.call("POST", f"/campaigns/{campaign}/resume", {})
            assert status == 200
            await api.until(campaign, lambda f: _sent(f, "e2") == 4, "e2 after resume")
        await _with_engine(engine_db, scenario)

    campaign = asyncio.run(_with_engine(engine_db, first))
    asyncio.run(second(campaign))


def test_stop_is_final_and_says_when(engine_db, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))

    async def scenario(api: Api, service: EngineService):
        _status, body = await api.call("POST", "/campaigns", {
            "flow": json.loads(_flow_json()), "leads": LEADS, "simulated": False})
        campaign = body["id"]
        await api.until(campaign, lambda f: _sent(f, "e1") == 4, "e1 to go out")
        await api.call("POST", f"/campaigns/{campaign}/pause", {})
        await api.until(campaign, lambda f: _queued(f, "e2") == 4, "e2 to be queued")
        status, _ = await api.call("POST", f"/campaigns/{campaign}/stop", {})
        assert status == 200
        figures = await api.figures(campaign)
        assert figures["state"] == "stopped" and figures["stopped_at"] and figures["paused"] is False
        assert figures["tokens_active"] == 0
        status, body = await api.call("POST", f"/campaigns/{campaign}/resume", {})
        assert status == 400 and "no running campaign" in body["error"]
        _status, leads = await api.call("GET", f"/campaigns/{campaign}/leads")
        states = {t["state"] for lead in leads["leads"] for t in lead["tokens"]}
        assert "waiting" not in states and "stopped" in states
        await asyncio.sleep(0.8)
        assert _sent(await api.figures(campaign), "e2") == 0 and _mailbox_count(engine_db) == 4

    asyncio.run(_with_engine(engine_db, scenario))


def _flow_json() -> str:
    from engine.flow.fileformat import dumps_flow

    return dumps_flow(FLOW)


def test_mailbranch_pause_holds_a_mailbranch_run_in_another_process(tmp_path, monkeypatch):
    """`mailbranch run` in one terminal, `mailbranch pause` and `resume` in another."""
    import os
    import time

    from engine.flow.fileformat import dumps_flow
    from engine.store.database import Database

    slow = flow([{"id": "start", "type": "start"}, email("e1"), {"id": "w1", "type": "wait", "duration": "5s"},
                 email("e2"), {"id": "end", "type": "end"}],
                [edge("start", "e1"), edge("e1", "w1"), edge("w1", "e2"), edge("e2", "end")], name="Held")
    (tmp_path / "flow.json").write_text(dumps_flow(slow), encoding="utf-8")
    (tmp_path / "leads.csv").write_text("email\n" + "".join(f"{x['email']}\n" for x in LEADS), encoding="utf-8")
    db_path = tmp_path / "run.db"
    env = dict(os.environ, MAILBRANCH_HOME=str(tmp_path / "home"))
    run = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(tmp_path / "flow.json"), "--leads",
                            str(tmp_path / "leads.csv"), "--db", str(db_path), "--tracking-port", "0", "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           cwd=Path(__file__).resolve().parent.parent)
    try:
        deadline = time.monotonic() + 60
        while not db_path.exists():
            assert run.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.2)
        db = Database(db_path)

        def sends(status: str, node: str) -> int:
            from sqlalchemy import func, select
            from sqlalchemy.exc import OperationalError

            from engine.store.models import Send

            try:
                with db.session() as s:
                    return s.execute(select(func.count()).select_from(Send).where(
                        Send.node == node, Send.status == status)).scalar()
            except OperationalError:  # the run is still creating its tables
                return 0

        while sends("sent", "e1") < 4:  # e1 out; w1 ends 5 s (and the 2 s grace) later
            assert run.poll() is None and time.monotonic() < deadline, "e1 did not go out"
            time.sleep(0.1)
        paused = mailbranch("pause", "--db", str(db_path))
        assert paused.returncode == 0, paused.stderr
        assert sends("sent", "e2") == 0
        while sends("queued", "e2") < 4:  # the 5 s wait fires while paused
            assert run.poll() is None and time.monotonic() < deadline, "the wait did not fire"
            time.sleep(0.2)
        time.sleep(1.5)
        assert sends("sent", "e2") == 0
        resumed = mailbranch("resume", "--db", str(db_path))
        assert resumed.returncode == 0, resumed.stderr
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, err
    assert "paused by you: nothing is sent until 'mailbranch resume'" in err
    assert sends("sent", "e1") == 4 and sends("sent", "e2") == 4
    db.dispose()

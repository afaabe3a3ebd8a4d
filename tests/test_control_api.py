"""The engine process's control API: loopback only, the secret or nothing; metrics and logs."""

import asyncio
import io
import json
import logging

import aiohttp

from engine.control.server import ControlServer
from engine.control.service import EngineService
from engine.delivery.smtp import SmtpSettings
from engine.observe.logs import JsonFormatter, KeyValueFormatter, op
from engine.runtime.runner import RunnerSettings
from engine.store.database import Database
from tests.conftest import FLOWS

SECRET = "s3cret-for-this-launch-only-0123456789"


def test_secret_loopback_simulation_and_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))

    async def scenario():
        db = Database(tmp_path / "engine.db")
        service = EngineService(db, RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=0,
                                                   poll_seconds=0.05))
        server = ControlServer(service, SECRET)
        await service.start()
        await server.start()
        base = f"http://127.0.0.1:{server.port}"
        try:
            assert {addr[0] for addr in server._runner.addresses} == {"127.0.0.1"}
            async with aiohttp.ClientSession() as http:
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": SECRET}):
                    async with http.get(f"{base}/health", headers=headers) as r:
                        assert r.status == 403
                auth = {"Authorization": f"Bearer {SECRET}"}
                flow = json.loads((FLOWS / "flow-a.json").read_text())
                leads = [{"key": "ana", "email": "ana@example.com"}, {"key": "ben", "email": "ben@example.com"}]
                async with http.post(f"{base}/campaigns", headers=auth, json={
                        "flow": flow, "leads": leads, "simulated": True, "speed": 10_000_000}) as r:
                    assert r.status == 201
                    campaign = (await r.json())["id"]
                async with http.post(f"{base}/campaigns/{campaign}/events", headers=auth,
                                     json={"lead": "nobody", "email": "e1", "type": "open"}) as r:
                    assert r.status == 400 and "nobody" in (await r.json())["error"]
                # JSON nested far deeper than Python's parser goes: a clear 400, and the engine carries on.
                deep = '{"flow": ' + "[" * 100_000 + "]" * 100_000 + "}"
                async with http.post(f"{base}/campaigns", headers={**auth, "Content-Type": "application/json"},
                                     data=deep) as r:
                    assert r.status == 400 and "nested too deeply" in (await r.json())["error"]
                for _ in range(200):
                    async with http.get(f"{base}/campaigns/{campaign}", headers=auth) as r:
                        figures = await r.json()
                    if figures["complete_at"] and figures["nodes"]["e3"]["sent"] == 2:
                        break
                    await asyncio.sleep(0.05)
                # Flow A with no events: e1 at once, e3 after 3 days of simulated time, complete at 3d.
                assert figures["complete_at"] - figures["started_at"] == 3 * 86400 * 1000
                assert figures["nodes"]["e1"]["sent"] == 2 and figures["nodes"]["e3"]["sent"] == 2
                async with http.get(f"{base}/metrics", headers=auth) as r:
                    text = await r.text()
                async with http.get(f"{base}/metrics") as r:
                    assert r.status == 403
        finally:
            await server.stop()
            await service.stop()
        return text

    metrics = asyncio.run(scenario())
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
              if line and not line.startswith("#")}
    assert values["mailbranch_sends_total"] >= 4
    assert values["mailbranch_delivered_total"] >= 4
    assert values["mailbranch_timers_fired_total"] >= 4
    assert 'mailbranch_queue_depth{queue="waits"}' in values


def test_one_log_line_per_operation_as_json_or_key_values():
    logger = logging.getLogger("mailbranch.ops")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        op("send", campaign=1, lead=7, token=12, node="e1", send=40)
        op("trigger", campaign=1, lead=7, token=12, new_token=13, condition="c1")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [x["op"] for x in lines] == ["send", "trigger"]
    assert lines[0]["campaign"] == 1 and lines[0]["lead"] == 7 and lines[0]["token"] == 12
    assert lines[1]["condition"] == "c1" and lines[1]["new_token"] == 13
    record = logging.LogRecord("mailbranch.ops", logging.INFO, "", 0, "timer", (), None)
    record.op, record.campaign, record.lead, record.lag_ms = "timer", 2, 3, 15
    assert KeyValueFormatter().format(record).endswith("timer campaign=2 lead=3 lag_ms=15")

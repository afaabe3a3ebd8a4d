"""The app's route to SEMANTICS 11: preview, publish, list, open read-only and roll
back through the engine process's control API (the app's own client)."""

from __future__ import annotations

import asyncio
import json

import pytest

from app.client import EngineClient, EngineError
from engine.control.server import ControlServer
from engine.control.service import EngineService
from engine.delivery.smtp import SmtpSettings
from engine.runtime.runner import RunnerSettings
from engine.store.database import Database
from tests.conftest import FLOWS

SECRET = "versions-test-secret-0123456789abcdef"


def test_preview_publish_list_show_and_roll_back_through_the_app_client(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))

    async def scenario():
        db = Database(tmp_path / "engine.db")
        service = EngineService(db, RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=0, poll_seconds=0.05))
        server = ControlServer(service, SECRET)
        await service.start()
        await server.start()
        client = EngineClient(server.port, SECRET)
        try:
            flow = json.loads((FLOWS / "flow-a.json").read_text())
            leads = [{"key": "ana", "email": "ana@example.com"}, {"key": "ben", "email": "ben@example.com"}]
            campaign = await client.start_campaign(flow, leads, simulated=True, speed=60)
            for _ in range(200):
                if (await client.figures(campaign))["nodes"]["w1"]["waiting"] == 2:
                    break
                await asyncio.sleep(0.05)
            await client.pause(campaign)
            shorter = json.loads(json.dumps(flow))
            next(n for n in shorter["nodes"] if n["id"] == "w1")["duration"] = "1d"
            impact = await client.preview_version(campaign, shorter)
            w1 = next(n for n in impact["nodes"] if n["node"] == "w1")
            assert (w1["status"], w1["tokens"], w1["retimed"]) == ("re-timed", 2, 2)
            assert impact["version"] == 1
            with pytest.raises(EngineError, match="not a node"):
                await client.preview_version(campaign, shorter, {"w7": "finish"})
            done = await client.publish_version(campaign, shorter, note="shorter", base_version=1)
            assert done["version"] == 2 and done["changes"]["retimed_waits"] == 2
            with pytest.raises(EngineError, match="published after the preview"):
                await client.publish_version(campaign, shorter, base_version=1)
            listed = await client.versions(campaign)
            assert [(v["number"], v["running"]) for v in listed] == [(1, False), (2, True)]
            first = await client.version(campaign, 1)
            assert first["read_only"] and first["flow"]["nodes"] == flow["nodes"]
            back = await client.rollback(campaign, 1)
            assert back["version"] == 3
            assert (await client.versions(campaign))[-1]["note"] == "rollback to version 1"
        finally:
            await client.close()
            await server.stop()
            await service.stop()
            db.dispose()

    asyncio.run(scenario())


def test_each_lead_says_which_version_it_is_on(tmp_path):
    """In flight: the running version; finished: the version it finished under."""
    from engine.control import views
    from engine.versions.publish import publish
    from tests.versions.support import DRIP, T0, H, edited, flow, start

    db = Database(tmp_path / "engine.db")
    db.migrate()
    engine = start(db, DRIP, leads=2)
    engine.run_to_end(T0 + H)
    engine.clock.reach(T0 + H)
    publish(db, engine.campaign_id, flow(edited(DRIP, w0="2h")), clock=engine.clock)
    with db.session() as s:
        assert [(x.key, x.version) for x in views.lead_page(s, engine.campaign_id).leads] == [("lead0", 2),
                                                                                              ("lead1", 2)]
    engine.run_to_end()
    engine.clock.reach(T0 + 3 * H)
    publish(db, engine.campaign_id, flow(edited(DRIP, w0="3h")), clock=engine.clock)
    with db.session() as s:
        page = views.lead_page(s, engine.campaign_id)
        assert [x.version for x in page.leads] == [2, 2]  # they finished at 2h, under version 2
        assert page.as_json()["leads"][0]["version"] == 2
    db.dispose()

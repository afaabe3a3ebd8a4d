"""The editor's flow is linked to the campaign started from it by the campaign's
world-unique id, not by the flow's name: two campaigns running flows of the same
name stay apart, and the bar says which campaign Publish changes."""

from __future__ import annotations

import asyncio
import json
import os
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.client import EngineClient  # noqa: E402
from app.publish_bar import ChangesBar  # noqa: E402
from app.publish_link import LINK, link_started, without_link  # noqa: E402
from editor.document import FlowDocument  # noqa: E402
from engine.control.server import ControlServer  # noqa: E402
from engine.control.service import EngineService  # noqa: E402
from engine.delivery.smtp import SmtpSettings  # noqa: E402
from engine.flow.fileformat import flow_from_data, load_flow, save_flow  # noqa: E402
from engine.runtime.runner import RunnerSettings  # noqa: E402
from engine.store.database import Database  # noqa: E402
from tests.versions.support import FLOW_A, edited  # noqa: E402

SECRET = "versions-link-secret-0123456789abcdef"


def _two_campaigns_of_one_name(tmp_path, doc: FlowDocument) -> list[dict]:
    """Start two campaigns from FLOW_A (same name); link the document to the first only."""

    async def scenario():
        db = Database(tmp_path / "engine.db")
        service = EngineService(db, RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=0, poll_seconds=0.05))
        server = ControlServer(service, SECRET)
        await service.start()
        await server.start()
        client = EngineClient(server.port, SECRET)
        try:
            leads = [{"key": "ana", "email": "ana@example.com"}]
            first = await client.start_campaign(FLOW_A, leads, simulated=True, speed=60)
            await link_started(doc, client, first)
            second = await client.start_campaign(FLOW_A, leads, simulated=True, speed=60)
            return [await client.figures(first), await client.figures(second)]
        finally:
            await client.close()
            await server.stop()
            await service.stop()
            db.dispose()

    return asyncio.run(scenario())


def _bar(qtbot, figures: dict, doc: FlowDocument) -> ChangesBar:
    run = SimpleNamespace(flow=flow_from_data(FLOW_A), campaign_id=figures["id"], figures=figures,
                          engine=SimpleNamespace(client=None))
    bar = ChangesBar(run, lambda: doc.flow)
    qtbot.addWidget(bar)
    return bar


def test_two_campaigns_of_the_same_name_stay_apart(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    doc = FlowDocument(flow_from_data(FLOW_A))
    first, second = _two_campaigns_of_one_name(tmp_path, doc)
    assert first["uid"] and second["uid"] and first["uid"] != second["uid"]
    assert first["name"] == second["name"]
    # Bookkeeping, not an edit: closing the app does not ask to save for it; the next save keeps it.
    assert doc.flow.extra[LINK] == [first["uid"]] and not doc.modified
    bars = [_bar(qtbot, first, doc), _bar(qtbot, second, doc)]
    for bar in bars:
        bar.refresh()
    assert [bar.isHidden() for bar in bars] == [True, True]  # the link alone is no change to publish

    doc.set_flow(flow_from_data({**edited(FLOW_A, w1="1d"), LINK: [first["uid"]]}))
    for bar in bars:
        bar.refresh()
    assert [bar.isHidden() for bar in bars] == [False, True]
    text = bars[0].label.text()
    assert f"campaign {first['id']} “Spring offer”" in text and "started as this campaign" in text

    # Saved and opened again, the flow still names its campaign.
    path = tmp_path / "offer.json"
    save_flow(doc.flow, path)
    doc.set_flow(load_flow(path))
    for bar in bars:
        bar.refresh()
    assert [bar.isHidden() for bar in bars] == [False, True]


def test_a_file_that_names_no_campaign_falls_back_to_the_name_and_is_linked_by_publishing(qtbot):
    doc = FlowDocument(flow_from_data(edited(FLOW_A, w1="1d")))
    figures = [{"id": 1, "uid": "a" * 32, "started_at": 0}, {"id": 2, "uid": "b" * 32, "started_at": 0}]
    bars = [_bar(qtbot, f, doc) for f in figures]
    for bar in bars:
        bar.refresh()
    assert [bar.isHidden() for bar in bars] == [False, False]
    assert "matched by the flow's name only" in bars[1].label.text()
    asked = []
    bars[1].linkRequested.connect(asked.append)
    bars[1].run.engine.client = Published()
    dialog = SimpleNamespace(mapping=dict, note=SimpleNamespace(text=str), impact={"version": 1})
    data = json.loads(json.dumps(without_link(edited(FLOW_A, w1="1d"))))
    asyncio.run(bars[1]._publish.__wrapped__(bars[1], data, dialog))
    assert asked == ["b" * 32]  # the main window links the editor's flow to campaign 2 (``link_document``)


class Published:
    async def publish_version(self, *args):
        return {"version": 2}

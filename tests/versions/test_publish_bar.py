"""The app's 'changes not published' bar and the impact dialog (SEMANTICS 11)."""

from __future__ import annotations

import os
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.publish_bar import ChangesBar, ImpactDialog, impact_rows, lead_lines  # noqa: E402
from tests.versions.support import DRIP, FLOW_A, edited, flow, without_w0  # noqa: E402

IMPACT = {
    "campaign_id": 1, "version": 2, "at": 0, "in_flight": 4, "leads_simulated": 4, "plays": 1,
    "leads_gaining": 0, "leads_losing": 4, "gained": {}, "lost": {"ann": ["e2"], "bob": ["e2"]},
    "removed_with_tokens": {"w0": 4},
    "nodes": [
        {"node": "e1", "type": "email", "status": "rewired", "tokens": 0, "goes_to": None, "retimed": 0,
         "new_ends": None, "listeners": 0, "stop_listening": 0, "gained": 0, "lost": 0, "not_sent": 0},
        {"node": "w0", "type": "wait", "status": "removed", "tokens": 4, "goes_to": "finish", "retimed": 0,
         "new_ends": None, "listeners": 0, "stop_listening": 0, "gained": 0, "lost": 0, "not_sent": 0},
        {"node": "e2", "type": "email", "status": "same", "tokens": 0, "goes_to": None, "retimed": 0,
         "new_ends": None, "listeners": 0, "stop_listening": 0, "gained": 0, "lost": 4, "not_sent": 0},
        {"node": "end", "type": "end", "status": "same", "tokens": 0, "goes_to": None, "retimed": 0,
         "new_ends": None, "listeners": 0, "stop_listening": 0, "gained": 0, "lost": 0, "not_sent": 0},
    ],
}


def test_the_dialog_shows_the_impact_and_asks_where_removed_tokens_go(qtbot):
    dialog = ImpactDialog(IMPACT, ["e1", "w9", "e2", "end"])
    qtbot.addWidget(dialog)
    assert [row[:4] for row in impact_rows(IMPACT)] == [["e1", "arrows changed", "", ""],
                                                        ["w0", "removed", "4", "finish"], ["e2", "", "", ""]]
    assert dialog.table.rowCount() == 3 and dialog.table.item(2, 8).text() == "4"
    assert lead_lines(IMPACT) == ["4 leads would no longer get an email — ann: e2; bob: e2 and 2 more"]
    assert dialog.mapping() == {}  # finish, the default
    changed = []
    dialog.mappingChanged.connect(lambda: changed.append(True))
    box = dialog.choices["w0"]
    box.setCurrentIndex(box.findData("w9"))
    assert dialog.mapping() == {"w0": "w9"} and changed


def test_the_bar_shows_while_the_editors_flow_differs_from_the_running_one(qtbot):
    running = flow(FLOW_A)
    shown = {"flow": flow(FLOW_A)}
    run = SimpleNamespace(flow=running, campaign_id=1, engine=SimpleNamespace(client=None))
    bar = ChangesBar(run, lambda: shown["flow"])
    qtbot.addWidget(bar)
    bar.refresh()
    assert bar.isHidden()
    shown["flow"] = flow(edited(FLOW_A, w1="1d"))
    bar.refresh()
    assert not bar.isHidden() and "Changes not published" in bar.label.text()
    shown["flow"] = flow(without_w0())  # another campaign's flow (another name): not this campaign's edit
    assert flow(DRIP).name != running.name
    bar.refresh()
    assert bar.isHidden()


def test_the_report_marks_when_each_version_was_published(qtbot):
    import asyncio

    from app.report_view import ReportView

    start = 1_767_225_600_000

    class Client:
        async def figures(self, campaign_id):
            return {"name": "Spring offer", "state": "running", "leads": 3, "started_at": start, "nodes": {}}

        async def series(self, campaign_id):
            return {"bucket_ms": 3_600_000, "sends": [3] + [0] * 71, "opens": [0] * 72, "clicks": [0] * 72}

        async def versions(self, campaign_id):
            return [{"number": 1, "published_at": start, "note": None, "running": False, "did": "first version"},
                    {"number": 2, "published_at": start + 36 * 3_600_000, "note": "shorter reminder",
                     "running": True, "did": "3 waits re-timed"}]

    view = ReportView(Client(), 1)
    qtbot.addWidget(view)
    asyncio.run(view.refresh())
    assert view.version_marks.label.text() == ("Version 2 (running) published 2026-01-02 12:00 UTC "
                                               "“shorter reminder”: 3 waits re-timed")
    assert [line.value() for line in view.version_marks.lines] == [36.0]  # hours into the campaign


def test_after_publishing_the_campaign_tab_shows_the_new_flow(qtbot):
    import json

    from PySide6.QtWidgets import QWidget

    from app.main_window import MainWindow
    from app.run_tabs import RunTabs
    from app.run_view import RunView

    engine = SimpleNamespace(client=None)
    tabs = RunTabs(QWidget())
    qtbot.addWidget(tabs)
    window = SimpleNamespace(tabs=tabs, runs=tabs.runs)

    def open_run(campaign_id, flow_, simulated, focus=True):
        return tabs.add_run(RunView(engine, campaign_id, flow_, simulated), focus)

    window.open_run = open_run
    first = open_run(7, flow(FLOW_A), True)
    first.timer.stop()
    shorter = edited(FLOW_A, w1="1d")
    MainWindow._show_published(window, 7, json.loads(json.dumps(shorter)), True)
    now = tabs.runs[7]
    assert now is not first and now.flow.find_node("w1").get("duration") == "1d"
    assert tabs.count() == 2  # the flow tab and this campaign's, once
    now.timer.stop()

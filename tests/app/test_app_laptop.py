"""On a 1366x768 laptop: the window, the run view and the dialogs fit; the run view and the
report read as a marketer expects (step names, subjects, causes first, plain axes)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("laptop_screen.py")
START = 1_700_000_000_000


@pytest.fixture(scope="module")
def laptop(tmp_path_factory) -> dict:
    """What ``laptop_screen.py`` measured on a 1366x768 screen (its own Qt process)."""
    folder = tmp_path_factory.mktemp("laptop")
    config = folder / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "laptop", "x": 0, "y": 0, "width": 1366, "height": 768,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}", MAILBRANCH_HOME=str(folder / "home"),
               XDG_CONFIG_HOME=str(folder / "config"), XDG_DOCUMENTS_DIR=str(folder / "Documents"))
    done = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_window_opens_inside_a_1366x768_screen(laptop):
    assert laptop["screen"] == [1366, 768]
    width, height = laptop["budget"]  # the screen less a window frame
    assert laptop["window"][0] <= width and laptop["window"][1] <= height
    assert laptop["editor_minimum"][0] <= width and laptop["editor_minimum"][1] <= height
    assert laptop["editor_clipped"] == [], "the palette, inspector and Problems panel are all on screen"


def test_after_a_simulation_nothing_is_cut_off(laptop):
    width, height = laptop["budget"]
    assert laptop["run_minimum"][0] <= width, f"the run view needs {laptop['run_minimum'][0]} px"
    assert laptop["run_minimum"][1] <= height
    assert laptop["run_window"] == laptop["window"], "the run tab did not make the window grow"
    assert laptop["run_clipped"] == [], "Stop, the lead pager, Simulate open/click are inside the window"
    assert laptop["editor_clipped_after_run"] == [], "back on the Flow tab, the Inspector is on screen"


def test_edge_counts_stay_clear_of_steps_and_ports(laptop):
    assert laptop["edge_counts"] == {"start.next": "20", "e1.next": "20", "c1.no": "20", "c1.yes": "1",
                                     "c2.no": "1", "c2.yes": "1"}
    assert laptop["edge_counts_over_steps"] == []


def test_dialogs_fit(laptop):
    width, height = laptop["budget"]
    for name, dialog in laptop["dialogs"].items():
        assert dialog["minimum"][0] <= width and dialog["minimum"][1] <= height, name
        assert dialog["size"][0] <= width and dialog["size"][1] <= height, name


def test_flows_open_at_a_readable_zoom(laptop):
    assert laptop["zoom"] >= 0.8, "the sample is wider than the canvas: it opens at 80%, not shrunk to fit"
    assert laptop["run_zoom"] >= 0.8


def test_problems_panel_shows_more_than_two_rows(laptop):
    assert laptop["findings_height"] >= 4 * laptop["findings_row_height"]


def test_timeline_has_causes_first_step_names_and_subjects(laptop):
    lines = laptop["timeline"]
    assert lines[0] == "00:00   sent “Hi Ana, our spring offer”"
    opened = next(i for i, line in enumerate(lines) if "opened" in line)
    clicked = next(i for i, line in enumerate(lines) if "clicked" in line)
    thanks = next(i for i, line in enumerate(lines) if "Thanks for your interest" in line)
    assert opened < clicked < thanks, "the click comes before the email it caused"
    assert "→ YES at Opened Hi ‹first_name›, our spring offer?" in lines[opened]
    assert lines[-2:] == ["2d 00:00:30   Wait 2 days ends (waiting now)", "3d 00:00   Wait 3 days ends (waiting now)"]
    assert not any(" e1" in line or " c1" in line or "…," in line for line in lines), "no step ids, no “Hi …”"


# -- the leads panel's words, without a window ------------------------------------------------
def test_a_wait_that_ends_comes_before_what_it_sends():
    from app.lead_timeline import timeline_lines
    from engine.flow.fileformat import load_flow

    flow = load_flow(ROOT / "resources" / "flows" / "sample.json")
    day = 86_400_000
    data = {"fields": {}, "email": "ben@example.com",
            "sends": [{"id": 1, "node": "e1", "at": START, "status": "sent", "token": 1},
                      {"id": 5, "node": "e3", "at": START + 3 * day, "status": "failed", "token": 1,
                       "error": "550 mailbox unavailable"}],
            "events": [], "tokens": [{"id": 1, "parent": None, "created_at": START}],
            "waits": [{"node": "w1", "due_at": START + 3 * day, "state": "fired", "token": 1}]}
    texts = [text for _at, text in timeline_lines(data, START, flow)]
    assert texts == ["sent “Hi there, our spring offer”", "Wait 3 days ended",
                     "sent “Did you miss it?” (failed: 550 mailbox unavailable)"]


def test_tracked_is_explained_in_a_tooltip(qtbot, qloop):
    from app.leads_panel import LeadsPanel
    from engine.flow.fileformat import load_flow

    class Engine:
        client = None

    panel = LeadsPanel(Engine(), 1, load_flow(ROOT / "resources" / "flows" / "sample.json"))
    qtbot.addWidget(panel)
    panel._fill({"total": 1, "leads": [{"key": "ana", "email": "ana@example.com", "tokens": [
        {"id": 1, "parent": None, "node": "w1", "state": "waiting", "tracked": True},
        {"id": 2, "parent": 1, "node": "w2", "state": "waiting", "tracked": True},
        {"id": 3, "parent": 1, "node": "end1", "state": "finished", "tracked": False}]}]})
    assert "campaign is complete when every tracked path" in panel.tree.headerItem().toolTip(3)
    ana = panel.tree.topLevelItem(0)
    assert ana.text(3) == "2/3" and ana.toolTip(3).startswith("2 of this lead's 3 paths tracked.")
    assert ana.toolTip(1) == "Wait 3 days\nWait 2 days", "where the lead is, by step name"
    assert "does not wait for it" in ana.child(2).toolTip(3)


# -- refreshes never stay stuck -------------------------------------------------------------------
def test_a_refresh_that_never_came_back_does_not_block_the_next(monkeypatch):
    from app.leads_panel import RefreshGate

    gate = RefreshGate()
    assert gate.enter() and not gate.enter(), "one refresh at a time"
    clock = [1000.0]
    monkeypatch.setattr("app.leads_panel.time.monotonic", lambda: clock[0])
    gate.since = clock[0]
    clock[0] += RefreshGate.STUCK_AFTER_S + 1  # its task was lost: it will never leave
    assert gate.enter(), "the next refresh goes ahead"
    gate.leave()
    assert gate.enter()


# -- the Settings dialog and runs share the simulation speed ------------------------------------------
def test_the_speed_saved_in_settings_is_the_one_a_simulation_offers(qtbot, qloop, home, monkeypatch):
    from app.engine_process import EngineOptions
    from app.main_window import MainWindow, app_settings
    from app.run_dialog import RunDialog
    from app.settings import AppSettings

    settings = AppSettings.load(app_settings())
    settings.speed = 86400.0
    settings.save(app_settings())
    window = MainWindow(engine_options=EngineOptions(data_dir=home, db_path=home / "c.db"))
    qtbot.addWidget(window)
    offered = []
    monkeypatch.setattr(RunDialog, "exec", lambda self: offered.append(self.speed_box.currentData()) or 0)
    assert window.ask_run_options(True) is None
    assert offered == [86400.0], "Simulate… offers the default speed from Settings"


# -- file dialogs --------------------------------------------------------------------------------------------
def test_file_dialogs_start_in_documents_not_in_the_data_folder(qtbot, qloop, home, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    from app.engine_process import EngineOptions
    from app.main_window import MainWindow
    from app.paths import SAMPLE_LEADS
    from app.report_view import ReportView
    from app.run_dialog import RunDialog
    from app.settings import AppSettings
    from app.settings_dialog import SettingsDialog

    documents = tmp_path / "Documents"
    documents.mkdir()
    monkeypatch.setattr("editor.window.documents_dir", lambda: str(documents))
    monkeypatch.setattr("app.report_view.documents_dir", lambda: str(documents))
    monkeypatch.setattr("app.settings_dialog.documents_dir", lambda: str(documents))
    window = MainWindow(engine_options=EngineOptions(data_dir=home, db_path=home / "c.db"))
    qtbot.addWidget(window)
    assert Path(window.document.path).parent == home, "the first start opened the sample copy in the data folder"
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: asked.append(a[2]) or ("", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: asked.append(a[2]) or ("", ""))
    window.editor_window.choose_open_path()
    window.editor_window.choose_save_path()
    ReportView(None, 3).choose_export_path("node")
    settings = SettingsDialog(AppSettings(db_path=str(home / "mailbranch.db")), window)
    settings.choose_db_path()
    assert asked == [str(documents), str(documents / "Spring offer (sample).json"),
                     str(documents / "campaign-3-per-node.csv"), str(documents / "mailbranch.db")]
    monkeypatch.setattr("app.run_dialog.documents_dir", lambda: str(documents))
    assert RunDialog("Sample", True, SAMPLE_LEADS).start_folder() == str(documents), "not the bundled sample's"
    mine = tmp_path / "lists" / "leads.csv"
    mine.parent.mkdir()
    mine.write_text("email\nana@example.com\n")
    assert RunDialog("Sample", True, mine).start_folder() == str(mine.parent), "the user's own list's folder"


# -- the report --------------------------------------------------------------------------------------------------
class ReportClient:
    async def figures(self, campaign_id):
        nodes = {"e1": {"node": "e1", "type": "email", "sent": 20, "opened": 1, "clicked": 1, "open_rate": 0.05,
                        "click_rate": 0.05},
                 "c1": {"node": "c1", "type": "condition", "yes": 1, "no": 20}}
        return {"name": "Spring offer (sample)", "state": "running", "leads": 20, "nodes": nodes}

    async def series(self, campaign_id):
        # A short simulation: 48 buckets of 75 s (an hour in all).
        return {"start": START, "bucket_ms": 75_000, "sends": [20] + [0] * 47, "opens": [0, 1] + [0] * 46,
                "clicks": [0, 1] + [0] * 46}

    async def export_csv(self, campaign_id, per="lead"):
        self.task = asyncio.current_task()
        return "node,sent\r\ne1,20\r\n"


@pytest.fixture
def report(qtbot, loop):
    from app.report_view import ReportView
    from engine.flow.fileformat import load_flow

    view = ReportView(ReportClient(), 7, flow=load_flow(ROOT / "resources" / "flows" / "sample.json"))
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    loop.run_until_complete(view.refresh())
    return view


def test_report_rows_are_named_and_the_axis_is_plain(report):
    assert [row[0] for row in report.row_texts()] == ["“Hi ‹first_name›, our spring offer”",
                                                      "Opened Hi ‹first_name›, our spring offer?"]
    bottom = report.plot.getAxis("bottom")
    assert bottom.labelText == "campaign time (minutes)" and bottom.labelUnitPrefix == ""
    assert "(x0.001)" not in bottom.labelString() and "x0." not in report.plot.getAxis("left").labelString()
    assert report.curves["sends"].getData()[0][-1] == pytest.approx(60.0), "an hour reads as 60 minutes"


def test_report_legend_sits_above_the_chart(report):
    legend, plot = report.legend, report.plot
    assert [name in legend.text() for name in ("Sent", "Opened", "Clicked")] == [True] * 3
    assert legend.mapTo(report, legend.rect().bottomLeft()).y() <= plot.mapTo(report, plot.rect().topLeft()).y()


def test_export_asks_outside_any_task_then_writes(report, loop, tmp_path, monkeypatch):
    """The file dialog runs its own event loop: asked from a task, it re-entered the loop."""
    target = tmp_path / "nodes.csv"
    inside = []
    monkeypatch.setattr(report, "choose_export_path",
                        lambda per: inside.append(_current_task()) or str(target))
    report.export_node_button.click()
    loop.run_until_complete(asyncio.gather(*report._tasks))
    assert inside == [None], "the dialog was not opened from inside a task"
    assert target.read_bytes() == b"node,sent\r\ne1,20\r\n"
    assert "Exported 1 row per node" in report.status.text()


def _current_task():
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop: certainly not inside a task
        return None

"""Opens the app's windows on a 1366x768 screen and reports, as JSON, what would not fit.

Run by ``test_app_laptop.py`` in its own process, because the screen size is
fixed when Qt starts: ``QT_QPA_PLATFORM=offscreen:configfile=FILE`` with one
1366x768 screen. No engine process: the run view gets the figures, leads and
timeline a simulation of the sample campaign gives (canned here), which is
what made the window 2,041 px wide before.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import qasync  # noqa: E402
from PySide6.QtCore import QRect  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from editor.window import FRAME_ALLOWANCE  # noqa: E402

START = 1_700_000_000_000
DAY = 86_400_000
NODES = {
    "start": {"type": "start", "passed": 20},
    "e1": {"type": "email", "sent": 20, "opened": 1, "clicked": 1, "open_rate": 0.05, "click_rate": 0.05},
    "c1": {"type": "condition", "yes": 1, "no": 20}, "c2": {"type": "condition", "yes": 1, "no": 1},
    "e2": {"type": "email", "sent": 1, "opened": 0, "clicked": 0, "open_rate": 0.0, "click_rate": 0.0},
    "w1": {"type": "wait", "waiting": 20}, "w2": {"type": "wait", "waiting": 1},
    "end1": {"type": "end", "finished": 1},
}
FIGURES = {"state": "running", "paused": True, "started_at": START, "now": START + 30_000, "speed": 60.0,
           "leads": 20, "finished_leads": 0, "tokens_active": 22, "outbox": "idle",
           "nodes": NODES, "edges": [{"from": "start", "port": "next", "count": 20},
                                     {"from": "e1", "port": "next", "count": 20},
                                     {"from": "c1", "port": "no", "count": 20},
                                     {"from": "c1", "port": "yes", "count": 1},
                                     {"from": "c2", "port": "no", "count": 1},
                                     {"from": "c2", "port": "yes", "count": 1}]}
NAMES = ["ana", "ben", "chloe", "dev", "eva", "farid", "grace", "hiro", "ines", "jon", "kemal", "lea",
         "mateo", "nora", "omar", "priya", "quinn", "rosa", "sam", "tara"]
ANA_FORKS = [{"id": 61, "parent": 1, "node": "w2", "state": "waiting", "tracked": True},
             {"id": 62, "parent": 1, "node": "end1", "state": "finished", "tracked": False}]
LEADS = {"total": 20, "leads": [
    {"key": f"{n}@example.com", "email": f"{n}@example.com", "unsubscribed": False,
     "tokens": [{"id": i * 3 + 1, "parent": None, "node": "w1", "state": "waiting", "tracked": True}]
     + (ANA_FORKS if n == "ana" else [])}
    for i, n in enumerate(NAMES)]}
TIMELINE = {"lead": "ana@example.com", "email": "ana@example.com",
            "fields": {"first_name": "Ana", "last_name": "Smith"},
            # As the engine lists them: sends by time, events by time; e2 (from the click) is
            # at the same instant as the open and the click that caused it.
            "sends": [{"id": 1, "node": "e1", "at": START, "status": "sent", "token": 1},
                      {"id": 2, "node": "e2", "at": START + 30_000, "status": "sent", "token": 62}],
            "events": [{"type": "open", "node": "e1", "send": 1, "at": START + 30_000, "url": None,
                        "triggered": ["c1"]},
                       {"type": "click", "node": "e1", "send": 1, "at": START + 30_000,
                        "url": "https://shop.example/offer?utm_source=spring&utm_medium=email",
                        "triggered": ["c2"]}],
            "waits": [{"node": "w1", "due_at": START + 3 * DAY, "state": "pending", "token": 1},
                      {"node": "w2", "due_at": START + 2 * DAY + 30_000, "state": "pending", "token": 61}],
            "tokens": [{"id": 1, "parent": None, "node": "w1", "state": "waiting", "tracked": True,
                        "path": {"e1": 1}, "created_at": START},
                       {"id": 61, "parent": 1, "node": "w2", "state": "waiting", "tracked": True,
                        "path": {"e1": 1}, "created_at": START + 30_000},
                       {"id": 62, "parent": 1, "node": "end1", "state": "finished", "tracked": False,
                        "path": {"e1": 1, "e2": 2}, "created_at": START + 30_000}]}


class FakeClient:
    async def figures(self, campaign_id: int) -> dict:
        return FIGURES

    async def leads(self, campaign_id: int, offset: int = 0, limit: int = 100, query: str = "") -> dict:
        return LEADS

    async def timeline(self, campaign_id: int, lead: str) -> dict:
        return TIMELINE


class FakeEngine:
    client = FakeClient()
    is_ready = True


def outside(widget: QWidget, window: QWidget) -> bool:
    """True when part of a widget lies outside the window's area."""
    top_left = widget.mapTo(window, widget.rect().topLeft())
    return not window.rect().contains(QRect(top_left, widget.size()))


def size(widget_size) -> list[int]:  # noqa: ANN001 - QSize
    return [widget_size.width(), widget_size.height()]


def main() -> None:
    application = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(application)
    asyncio.set_event_loop(loop)
    from app.main_window import MainWindow
    from app.paths import SAMPLE_LEADS
    from app.run_dialog import RunDialog
    from app.run_view import RunView
    from app.settings import AppSettings
    from app.settings_dialog import SettingsDialog

    screen = application.primaryScreen().availableGeometry()
    budget = [screen.width() - FRAME_ALLOWANCE.width(), screen.height() - FRAME_ALLOWANCE.height()]
    report: dict = {"screen": [screen.width(), screen.height()], "budget": budget}
    window = MainWindow()
    window.show()
    for _ in range(5):
        application.processEvents()
    report["window"] = size(window.size())
    report["editor_minimum"] = size(window.minimumSizeHint())
    report["zoom"] = window.editor.view.zoom()
    report["findings_height"] = window.editor.findings.list.height()
    report["findings_row_height"] = window.editor.findings.list.sizeHintForRow(0) if \
        window.editor.findings.list.count() else window.editor.findings.list.fontMetrics().height() + 8
    report["editor_clipped"] = sorted(name for name, w in (
        ("inspector", window.editor_window.inspector_dock), ("palette", window.editor_window.palette_dock),
        ("problems", window.editor_window.findings_dock)) if not w.isVisible() or outside(w, window))

    report["dialogs"] = {}
    for name, dialog in (("run", RunDialog("Spring offer (sample)", True, SAMPLE_LEADS, 3600.0, window)),
                         ("settings", SettingsDialog(AppSettings(), window))):
        dialog.show()
        application.processEvents()
        report["dialogs"][name] = {"minimum": size(dialog.minimumSizeHint()), "size": size(dialog.size())}
        dialog.close()

    run = RunView(FakeEngine(), 1, window.document.flow.copy(), True)
    run.timer.stop()
    window.tabs.add_run(run)
    run.apply(FIGURES)
    loop.run_until_complete(run.leads.refresh())
    run.leads.select_lead("ana@example.com")
    loop.run_until_complete(run.leads._load_timeline("ana@example.com"))
    for _ in range(5):
        application.processEvents()
    hint = window.minimumSizeHint()
    report["run_minimum"] = [max(hint.width(), window.minimumWidth()), max(hint.height(), window.minimumHeight())]
    report["run_window"] = size(window.size())
    widgets = {"stop": run.stop_button, "pause": run.pause_button, "skip": run.skip_button,
               "speed": run.speed_box, "progress": run.progress, "next_page": run.leads.next_button,
               "prev_page": run.leads.prev_button, "simulate_open": run.leads.open_button,
               "simulate_click": run.leads.click_button, "timeline": run.leads.timeline_list,
               "leads": run.leads.tree, "state": run.state_label}
    report["run_clipped"] = sorted(name for name, w in widgets.items() if not w.isVisible() or outside(w, window))
    report["timeline"] = [run.leads.timeline_list.item(i).text() for i in range(run.leads.timeline_list.count())]
    report["run_zoom"] = run.view.zoom()
    # Edge counts: none drawn over a step or its ports.
    steps = [item.mapRectToScene(item.node_rect().adjusted(-8, -8, 8, 8)) for item in run.editor.scene.nodes.values()]
    report["edge_counts"] = {f"{source}.{port}": figure.text() for (source, port), figure in run.overlay.edges.items()
                             if figure.label.isVisible()}
    report["edge_counts_over_steps"] = sorted(
        f"{source}.{port}" for (source, port), figure in run.overlay.edges.items()
        if figure.label.isVisible() and any(figure.label_rect().intersects(step) for step in steps))
    if len(sys.argv) > 1:  # the run view at this size, for a person to look at
        window.grab().save(sys.argv[1])
    window.tabs.setCurrentIndex(0)  # back to the flow: the editor's panels come back, inside the window
    for _ in range(5):
        application.processEvents()
    report["editor_clipped_after_run"] = sorted(name for name, w in (
        ("inspector", window.editor_window.inspector_dock), ("palette", window.editor_window.palette_dock),
        ("problems", window.editor_window.findings_dock)) if not w.isVisible() or outside(w, window))
    print(json.dumps(report))
    window._closing_done = True
    window.close()


if __name__ == "__main__":
    main()

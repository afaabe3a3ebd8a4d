"""The app end to end: a real engine process on a tmp database, the sample
campaign simulated, events fired from the leads panel, the overlay read as a
user reads it, completion at the time SEMANTICS gives for flow C (4d)."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SCREENSHOT = ROOT / "docs" / "screenshots" / "run-view.png"


STARTED: list = []
#: A 1366x768 laptop screen less the window's frame and the desktop's panel.
LAPTOP = (1350, 728)


@pytest.fixture(autouse=True)
def _no_engine_left_behind():
    """Whatever a failing test leaves, no engine process outlives it."""
    ARTIFACTS.mkdir(exist_ok=True)
    yield
    while STARTED:
        window = STARTED.pop()
        for pid in {window.engine.pid, *window.engine_pids}:
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def open_window(qtbot, home, **kw):
    from app.engine_process import EngineOptions
    from app.main_window import MainWindow

    options = EngineOptions(data_dir=home, db_path=home / "campaigns.db", tracking_port=0)
    window = MainWindow(engine_options=options, **kw)
    window.ask_keep_running = lambda active: "stop"
    window.engine_pids = set()
    window.engine.ready.connect(lambda _r: window.engine_pids.add(window.engine.pid))
    STARTED.append(window)
    qtbot.addWidget(window)
    window.resize(*LAPTOP)
    window.show()
    qtbot.waitExposed(window)
    window.start_engine()
    qtbot.waitUntil(lambda: window.engine.is_ready, timeout=20000)
    return window


def close_window(qtbot, window, answer):
    window.ask_keep_running = lambda active: answer
    window.close()
    qtbot.waitUntil(lambda: window._closing_done, timeout=15000)


def simulate(window, monkeypatch, speed):
    from app.paths import SAMPLE_LEADS
    from app.run_dialog import RunRequest
    from engine.leads.importer import import_leads

    monkeypatch.setattr(window, "ask_run_options",
                        lambda simulated: RunRequest(SAMPLE_LEADS, import_leads(SAMPLE_LEADS), simulated, speed))
    assert window.run_campaign(True)


def run_view(qtbot, window):
    qtbot.waitUntil(lambda: window.current_run() is not None, timeout=10000)
    run = window.current_run()
    qtbot.waitUntil(lambda: "20 sent" in run.overlay.nodes["e1"].text(), timeout=10000)
    return run


def test_first_start_simulate_fire_events_and_complete(qtbot, qloop, home, monkeypatch):
    window = open_window(qtbot, home)
    from app.paths import SAMPLE_LEADS

    # First start: the sample campaign is open and its leads are chosen.
    assert window.document.flow.name == "Spring offer (sample)"
    assert window.leads_path == SAMPLE_LEADS
    assert window.engine_label.text().startswith("Engine: running")

    simulate(window, monkeypatch, 60.0)
    run = run_view(qtbot, window)
    nodes = run.overlay.nodes
    assert nodes["start"].text() == "20 entered"
    qtbot.waitUntil(lambda: nodes["w1"].text().startswith("20 waiting here"), timeout=5000)
    assert nodes["c1"].text() == "YES 0 · NO 20"
    assert run.overlay.edges[("c1", "no")].text() == "20"
    assert run.overlay.edges[("c1", "yes")].count == 0
    assert run.state_label.text() == "Running"
    assert run.clock_label.text().startswith("Campaign time ")

    run.pause_button.click()
    qtbot.waitUntil(lambda: run.state_label.text() == "Paused", timeout=5000)

    # The leads panel: Ana is waiting at w1 on her tracked original token.
    panel = run.leads
    qtbot.waitUntil(lambda: "ana@example.com" in panel.lead_keys(), timeout=5000)
    assert panel.select_lead("ana@example.com")
    qtbot.waitUntil(lambda: panel.email_box.count() == 1, timeout=5000)
    ana = panel.tree.currentItem()
    assert (ana.text(1), ana.text(2), ana.text(3)) == ("w1", "in progress", "1/1")
    assert {"start", "e1", "c1", "w1"} <= run.overlay.highlighted()
    assert "e2" not in run.overlay.highlighted()

    # A simulated open: the YES path runs for Ana at once.
    panel.open_button.click()
    qtbot.waitUntil(lambda: nodes["e1"].text().splitlines()[1] == "1 opened (5%)", timeout=5000)
    qtbot.waitUntil(lambda: nodes["c1"].text() == "YES 1 · NO 20", timeout=5000)
    assert run.overlay.edges[("c1", "yes")].text() == "1"
    # Its YES token reached c2 (click e1?) before any click, so it went NO, to w2.
    qtbot.waitUntil(lambda: nodes["c2"].text() == "YES 0 · NO 1", timeout=5000)
    assert nodes["w2"].text().startswith("1 waiting here")
    assert run.overlay.edges[("c1", "no")].width > run.overlay.edges[("c1", "yes")].width > 0

    # A simulated click on the offer link: a third token sends e2.
    assert panel.link_box.findData("https://shop.example/offer") >= 0
    panel.link_box.setCurrentIndex(panel.link_box.findData("https://shop.example/offer"))
    panel.click_button.click()
    qtbot.waitUntil(lambda: nodes["e2"].text().startswith("1 sent"), timeout=5000)
    assert nodes["e1"].text().splitlines()[2] == "1 clicked (5%)"
    qtbot.waitUntil(lambda: {"c2", "e2"} <= run.overlay.highlighted(), timeout=5000)
    clicked = "clicked “Hi Ana, our spring offer” (https://shop.example/offer)"
    qtbot.waitUntil(lambda: any(clicked in panel.timeline_list.item(i).text()
                                for i in range(panel.timeline_list.count())), timeout=5000)

    # On the laptop-sized window, after a simulation, every control is inside the window.
    assert window.size().toTuple() == LAPTOP, "the run tab did not make the window grow"
    assert window.minimumSizeHint().width() <= LAPTOP[0]
    for widget in (run.stop_button, run.pause_button, run.skip_button, run.speed_box, panel.next_button,
                   panel.open_button, panel.click_button, panel.email_box, panel.link_box):
        corner = widget.mapTo(window, widget.rect().bottomRight())
        assert widget.isVisible() and window.rect().contains(corner), widget

    window.grab().save(str(ARTIFACTS / "run-view.png"))
    if os.environ.get("MAILBRANCH_UPDATE_SCREENSHOTS"):  # the README's picture, refreshed on request
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "run-view.png", SCREENSHOT)

    # Skip through the timers: w2 (Ana, 2d after her open), w1 (3d), w3 (4d).
    for _ in range(8):
        if run.state_label.text().startswith("Complete"):
            break
        run.skip_button.click()
        qtbot.wait(400)
    qtbot.waitUntil(lambda: run.state_label.text() == "Complete at 4d 00:00", timeout=5000)
    assert nodes["e3"].text().startswith("20 sent")
    assert run.progress.value() == run.progress.maximum() == 20
    assert "Complete at 4d" in window.campaign_label.text()

    # The report and the sandbox mailbox open from the menus on the same engine.
    assert window.actions["report"].isEnabled() and window.actions["mailbox"].isEnabled()
    report = window.open_report()
    # Its rows name the steps as drawn: e3 is "Did you miss it?".
    qtbot.waitUntil(lambda: ["“Did you miss it?”", "email", "20"] in [r[:3] for r in report.row_texts()],
                    timeout=5000)
    mailbox = window.open_mailbox()
    qtbot.waitUntil(lambda: len(mailbox.message_ids()) == 20 + 1 + 20, timeout=5000)  # e1, Ana's e2, e3
    close_window(qtbot, window, "stop")
    assert not window.engine.alive()


def test_engine_killed_restarts_and_a_relaunch_reattaches(qtbot, qloop, home, monkeypatch):
    window = open_window(qtbot, home)
    simulate(window, monkeypatch, 3600.0)
    run = run_view(qtbot, window)
    qtbot.waitUntil(lambda: (run.figures.get("now") or 0) - run.figures["started_at"] > 3_600_000, timeout=5000)
    sent_before = run.figures["nodes"]["e1"]["sent"]
    clock_before = run.figures["now"]
    old_pid = window.engine.pid

    os.kill(old_pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "stopped unexpectedly" in window.last_notice, timeout=5000)
    assert window.notice is not None and window.notice.isVisible()
    qtbot.waitUntil(lambda: window.engine.is_ready and window.engine.pid != old_pid, timeout=20000)
    assert window.engine_label.text().startswith("Engine: running again")
    # Nothing lost: the same sends, and the simulated clock carries on past where it was.
    qtbot.waitUntil(lambda: run.engine_ok and run.figures["now"] > clock_before + 3_600_000, timeout=10000)
    assert run.figures["nodes"]["e1"]["sent"] == sent_before == 20
    assert "engine not answering" not in run.state_label.text()
    assert window.findChildren(type(run)) == [run]

    # Close, keeping the campaign running in the background; a new window reattaches.
    pid = window.engine.pid
    close_window(qtbot, window, "keep")
    assert window.engine.alive() and (home / "engine.json").exists()
    again = open_window(qtbot, home)
    assert again.engine.reattached and again.engine.pid == pid
    qtbot.waitUntil(lambda: len(again.runs) == 1, timeout=5000)
    resumed = next(iter(again.runs.values()))
    qtbot.waitUntil(lambda: "20 sent" in resumed.overlay.nodes["e1"].text(), timeout=5000)
    close_window(qtbot, again, "stop")
    qtbot.waitUntil(lambda: not again.engine.alive(), timeout=20000)
    assert not (home / "engine.json").exists()


def test_a_real_run_sends_to_the_sandbox_and_a_click_runs_the_yes_path(qtbot, qloop, home, monkeypatch):
    """Campaign > Run (not a simulation): the wall clock, the sandbox SMTP server, real tracking."""
    from app.paths import SAMPLE_LEADS
    from app.run_dialog import RunRequest
    from engine.leads.importer import import_leads

    window = open_window(qtbot, home)
    monkeypatch.setattr(window, "ask_run_options",
                        lambda simulated: RunRequest(SAMPLE_LEADS, import_leads(SAMPLE_LEADS), simulated))
    assert window.run_campaign(False)
    run = run_view(qtbot, window)  # waits for "20 sent": delivered to the sandbox
    nodes = run.overlay.nodes
    assert run.state_label.text() == "Running"
    qtbot.waitUntil(lambda: nodes["w1"].text().startswith("20 waiting here"), timeout=10000)

    panel = run.leads
    qtbot.waitUntil(lambda: "ana@example.com" in panel.lead_keys(), timeout=5000)
    assert panel.select_lead("ana@example.com")
    qtbot.waitUntil(lambda: panel.link_box.count() > 0, timeout=5000)
    panel.link_box.setCurrentIndex(panel.link_box.findData("https://shop.example/offer"))
    panel.click_button.click()
    # A click counts as an open (c1 YES), and c2 finds the click already there: e2 goes out.
    qtbot.waitUntil(lambda: nodes["e2"].text().startswith("1 sent"), timeout=15000)
    assert nodes["c1"].text() == "YES 1 · NO 20"
    assert nodes["c2"].text() == "YES 1 · NO 0"

    box: list = []
    task = qloop.create_task(window.engine.client.mailbox(limit=100))
    task.add_done_callback(lambda t: box.append(t.result()))
    qtbot.waitUntil(lambda: bool(box), timeout=10000)
    messages = box[0]
    subjects = [m["subject"] for m in messages]
    assert len(messages) == 21 and subjects.count("Thanks for your interest") == 1

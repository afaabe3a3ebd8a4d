"""A real run in the app (to the built-in sandbox): Pause holds its sending, Stop asks first
and leaves a clear final state (no lead "in progress", nothing left to simulate)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox
from test_app_run import _no_engine_left_behind, close_window, open_window, run_view  # noqa: F401


def test_pause_then_stop_a_real_run(qtbot, qloop, home, monkeypatch):
    from app.paths import SAMPLE_LEADS
    from app.run_dialog import RunRequest
    from engine.leads.importer import import_leads

    window = open_window(qtbot, home)
    monkeypatch.setattr(window, "ask_run_options",
                        lambda simulated: RunRequest(SAMPLE_LEADS, import_leads(SAMPLE_LEADS), simulated))
    assert window.run_campaign(False)
    run = run_view(qtbot, window)
    panel = run.leads
    # A real run can be paused; the simulated clock's controls are not there.
    assert run.pause_button.isVisible() and run.pause_button.isEnabled()
    assert not run.skip_button.isVisible() and not run.speed_box.isVisible()
    assert window.actions["pause"].isEnabled() and not window.actions["skip"].isEnabled()
    run.pause_button.click()
    qtbot.waitUntil(lambda: run.state_label.text() == "Paused by you: nothing is sent until you resume",
                    timeout=10000)
    assert run.pause_button.text() == "Resume"
    assert "Paused by you" in window.campaign_label.text()

    # Stop says what it means and defaults to Cancel; cancelling changes nothing.
    box = run.stop_question()
    text = box.text() + " " + box.informativeText()
    assert "No more emails of this campaign will be sent" in text and "cannot be started again" in text
    assert box.buttonRole(box.defaultButton()) == QMessageBox.ButtonRole.RejectRole
    run.confirm_stop = lambda: False
    run.stop_button.click()
    qtbot.wait(1200)
    assert run.state == "running" and run.stop_button.isEnabled()

    qtbot.waitUntil(lambda: "ana@example.com" in panel.lead_keys(), timeout=5000)
    assert panel.select_lead("ana@example.com")
    qtbot.waitUntil(lambda: panel.open_button.isEnabled(), timeout=5000)
    run.confirm_stop = lambda: True
    run.stop_button.click()
    qtbot.waitUntil(lambda: run.state_label.text().startswith("Stopped at "), timeout=10000)
    assert run.figures["stopped_at"] and not run.is_active
    for button in (run.stop_button, run.pause_button, panel.open_button, panel.click_button):
        assert not button.isEnabled(), button.text()
    assert not window.actions["pause"].isEnabled() and not window.actions["stop"].isEnabled()

    def lead_states() -> set[str]:
        return {panel.tree.topLevelItem(i).text(2) for i in range(panel.tree.topLevelItemCount())}

    qtbot.waitUntil(lambda: lead_states() == {"stopped"}, timeout=10000)
    close_window(qtbot, window, "stop")


def test_a_lead_timeline_says_its_email_waits_because_the_campaign_is_paused():
    from app.lead_timeline import timeline_lines
    from engine.flow.fileformat import flow_from_data

    flow = flow_from_data({"format": "mailbranch.flow/1", "name": "t", "nodes": [
        {"id": "start", "type": "start"}, {"id": "e1", "type": "email", "subject": "Spring is here", "html": "x"},
        {"id": "end", "type": "end"}], "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "end"}]})
    data = {"lead": "ana", "email": "ana@example.com", "fields": {}, "events": [], "waits": [], "skips": [],
            "tokens": [{"id": 1, "parent": None, "node": "e1", "state": "waiting", "tracked": True}],
            "sends": [{"id": 1, "node": "e1", "at": 0, "status": "queued", "token": 1, "error": None}],
            "paused": True}
    assert [t for _at, t in timeline_lines(data, 0, flow)] == [
        "queued “Spring is here” (waiting to go out: the campaign is paused)"]
    data["paused"] = False
    assert [t for _at, t in timeline_lines(data, 0, flow)] == ["queued “Spring is here” (waiting to go out)"]

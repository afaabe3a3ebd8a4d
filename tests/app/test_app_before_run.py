"""Before a run: errors block it and show on the canvas; the lead import
report lists bad rows with their line numbers."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_errors_block_the_run_and_show_on_the_canvas(qtbot, qloop, home, tmp_path):
    from app.engine_process import EngineOptions
    from app.main_window import MainWindow
    from engine.flow.fileformat import load_flow, save_flow

    flow = load_flow(ROOT / "resources" / "flows" / "sample.json")
    flow.remove_node("w1")  # c1 loses its NO path
    path = tmp_path / "broken.json"
    save_flow(flow, path)
    window = MainWindow(path, engine_options=EngineOptions(data_dir=home, tracking_port=0))
    qtbot.addWidget(window)
    window.show()
    asked = []
    window.ask_run_options = lambda simulated: asked.append(simulated)

    assert not window.run_campaign(True)
    assert asked == []  # no lead list asked for
    assert "Fix the problems marked on the canvas" in window.last_notice
    codes = [f.code for f in window.editor.scene.findings_for("c1")]
    assert "missing-no-path" in codes
    assert window.editor_window.findings_dock.isVisible()
    assert window.tabs.currentIndex() == 0
    window.notice.close()


def test_import_report_shows_bad_rows_before_starting(qtbot, tmp_path):
    import app  # noqa: F401
    from app.run_dialog import RunDialog

    csv = tmp_path / "leads.csv"
    csv.write_text("email,first_name\nana@example.com,Ana\nnot-an-address,Bob\nben@example.com,Ben\n",
                   encoding="utf-8")
    dialog = RunDialog("Spring offer", True, csv)
    qtbot.addWidget(dialog)
    assert "2 leads will enter" in dialog.summary.text()
    assert dialog.rejected.rowCount() == 1
    assert dialog.rejected.item(0, 0).text() == "3"
    assert "not-an-address" in dialog.rejected.item(0, 2).text()
    assert dialog.start_button.isEnabled()
    request = dialog.request()
    assert request.simulated and [x["email"] for x in request.lead_payload()] == ["ana@example.com",
                                                                                 "ben@example.com"]

    dialog.path_edit.setText(str(tmp_path / "missing.csv"))
    dialog.reload()
    assert not dialog.start_button.isEnabled()
    assert dialog.request() is None

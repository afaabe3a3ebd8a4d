"""Issue 11 in the app: Settings has a Sender group (the default From, Reply-To and
Return-Path domain for campaigns whose flow names none), checked as the engine
checks it, kept across restarts."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from app.settings import AppSettings
from app.settings_dialog import SettingsDialog


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    return tmp_path


def test_the_sender_fields_are_checked_and_kept(qtbot, home):
    dialog = SettingsDialog(AppSettings(db_path=str(home / "m.db")))
    qtbot.addWidget(dialog)
    assert dialog.ok_enabled()  # no sender at all: fine, the sandbox needs none
    dialog.sender.name.setText("Spring Shop, Inc.")
    assert not dialog.ok_enabled() and "From address" in dialog.error_label.text()
    dialog.sender.address.setText("news@spring-shop")
    assert not dialog.ok_enabled() and "news@spring-shop" in dialog.error_label.text()
    dialog.sender.address.setText("news@spring-shop.example")
    dialog.sender.return_path.setText("bounces.spring-shop.example")
    assert dialog.ok_enabled(), dialog.error_label.text()
    settings = dialog.result_settings()
    assert settings.default_sender() == {"name": "Spring Shop, Inc.", "address": "news@spring-shop.example",
                                         "return_path_domain": "bounces.spring-shop.example"}
    stored = QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat)
    settings.save(stored)
    again = AppSettings.load(QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat))
    assert again.default_sender() == settings.default_sender()
    assert AppSettings().default_sender() is None


def test_the_preflight_panel_lists_every_check_from_a_worker_thread(qtbot, home):
    import json
    from pathlib import Path

    from app.preflight_panel import PreflightPanel, campaign_preflight
    from engine.run.engine import LeadInput

    sample = json.loads((Path(__file__).resolve().parents[2] / "resources" / "flows" / "sample.json").read_text())
    check = campaign_preflight(sample, "http://127.0.0.1:8025", "smtp://mail.example:587?rate=2")
    panel = PreflightPanel(lambda: check([LeadInput("a", "a@example.com"), LeadInput("b", "b@example.com")]))
    qtbot.addWidget(panel)
    panel.start()
    report = panel.wait()
    lines = [panel.lines.item(i).text() for i in range(panel.lines.count())]
    assert len(lines) == len(report.checks) >= 10
    assert any(line.startswith("✗  Sender") and "mailbranch.local" in line for line in lines)
    assert any(line.startswith("✓  Postal address") for line in lines)
    assert any("Emails per day" in line and "4 emails" in line for line in lines)
    assert "Not ready" in panel.summary.text() and panel.again.isEnabled()

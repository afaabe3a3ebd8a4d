"""The suppression list window against a real engine service: search, export,
import with its bad rows, and removal only after a confirmation naming the addresses."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

SECRET = "app-suppression-secret-0123456789abcdef"


@pytest.fixture
def engine(loop, tmp_path, monkeypatch):
    """An in-process engine service with its control API, and the app's client for it."""
    from app.client import EngineClient
    from engine.control.server import ControlServer
    from engine.control.service import EngineService
    from engine.delivery.smtp import SmtpSettings
    from engine.runtime.runner import RunnerSettings
    from engine.store import suppression
    from engine.store.database import Database

    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    db = Database(tmp_path / "engine.db")
    service = EngineService(db, RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=0, poll_seconds=0.05))
    server = ControlServer(service, SECRET)
    loop.run_until_complete(service.start())
    loop.run_until_complete(server.start())
    with db.session() as s:
        suppression.add(s, "ann@example.com", "unsubscribe", at=1_000, campaign_uid="spring-uid")
        suppression.add(s, "bob@example.com", "bounce", at=2_000, note="mailbox does not exist")
        suppression.add(s, "carl@example.com", "complaint", at=3_000)
    client = EngineClient(server.port, SECRET)
    yield client, db
    loop.run_until_complete(client.close())
    loop.run_until_complete(server.stop())
    loop.run_until_complete(service.stop())


@pytest.fixture
def view(qtbot, loop, engine):
    from app.suppression_view import SuppressionView

    widget = SuppressionView(engine[0])
    qtbot.addWidget(widget)
    widget.resize(760, 560)
    widget.show()
    loop.run_until_complete(widget.refresh())
    return widget


def test_the_list_shows_every_address_newest_first_with_its_reason(view):
    assert view.addresses() == ["carl@example.com", "bob@example.com", "ann@example.com"]
    assert view.table.item(0, 1).text() == "Spam complaint"
    assert view.table.item(1, 3).text() == "mailbox does not exist"
    assert view.count_label.text() == "3 addresses suppressed"
    assert not view.remove_button.isEnabled()


def test_search_narrows_the_list(view, loop, qtbot):
    view.search.setText("mailbox")
    qtbot.waitUntil(lambda: view.addresses() == ["bob@example.com"], timeout=3000)
    assert view.count_label.text() == "1 of 3 addresses match"


def test_removal_asks_first_and_names_the_addresses(view, loop, engine):
    from engine.store import suppression

    asked: list[list[str]] = []
    view.confirm_removal = lambda addresses: asked.append(addresses) or False
    view.select_addresses(["ann@example.com", "carl@example.com"])
    assert view.remove_button.isEnabled() and view.remove_button.text() == "Remove 2…"
    assert loop.run_until_complete(view.remove_selected()) == []
    assert asked == [["carl@example.com", "ann@example.com"]]
    assert view.addresses() == ["carl@example.com", "bob@example.com", "ann@example.com"]

    view.confirm_removal = lambda addresses: True
    assert loop.run_until_complete(view.remove_selected()) == ["ann@example.com", "carl@example.com"]
    assert view.addresses() == ["bob@example.com"]
    assert "Removed ann@example.com, carl@example.com" in view.status.text()
    with engine[1].session() as s:
        assert [e.email for e in suppression.entries(s)] == ["bob@example.com"]


def test_export_then_import_elsewhere(view, loop, tmp_path):
    path = tmp_path / "list.csv"
    assert loop.run_until_complete(view.export_to(path))
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "email,reason,at,note" and "bob@example.com,bounce,2000" in text
    assert "Saved 3 addresses" in view.status.text()

    other = tmp_path / "other-tool.csv"
    other.write_text("email,note\ndora@example.com,from the old tool\nno address here,\n", encoding="utf-8")
    result = loop.run_until_complete(view.import_from(other))
    assert result["added"] == 1
    assert "line 3:" in view.status.text() and "no address here" in view.status.text()
    assert view.addresses()[0] == "dora@example.com"
    assert view.table.item(0, 1).text() == "Imported"


def test_the_main_window_offers_the_list_in_the_campaign_menu(qtbot, qloop, home):
    from app.engine_process import EngineOptions
    from app.main_window import MainWindow

    window = MainWindow(engine_options=EngineOptions(data_dir=home, tracking_port=0))
    qtbot.addWidget(window)
    campaign = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Campaign")
    assert window.actions["suppression"] in campaign.actions()
    assert window.open_suppression_list() is None  # the engine is not running: it says so instead
    assert "engine is not running" in window.statusBar().currentMessage()

"""The relay's state in the app: reachable, last sync, events waiting; and unreachable, said plainly."""

from __future__ import annotations

from engine.delivery.tracking_tokens import TrackingTokens
from engine.relay.app import RelayServer, RelaySink, build_relay_app
from engine.relay.store import RelayStore

SYNC = "s" * 64
HOUR = 3_600_000


def test_the_line_says_local_only_without_a_relay():
    from app.relay_status import describe

    assert describe(None, 0) == "Tracking: local only (links point to this computer)"


def test_the_line_for_a_relay_that_answers_or_not():
    from app.relay_status import RelayState, describe

    now = 10 * HOUR
    assert describe(RelayState("https://track.example.com", True, now - 2 * HOUR - 5 * 60_000, 3), now) == \
        "Relay track.example.com: reachable · last sync 2 h 5 min ago · 3 events waiting"
    assert describe(RelayState("https://track.example.com", True, None, 1), now) == \
        "Relay track.example.com: reachable · last sync never · 1 event waiting"
    assert describe(RelayState("https://track.example.com", False, error="cannot reach it"), now) == \
        "Relay track.example.com: not reachable (cannot reach it)"


def test_the_label_asks_the_relay(qtbot, loop, tmp_path):
    from app.relay_status import RelayStatusLabel

    tokens = TrackingTokens(b"t" * 64)
    store = RelayStore(tmp_path / "relay.db")
    server = RelayServer(build_relay_app(tokens, RelaySink(store), store=store, sync_secret=SYNC.encode()))
    loop.run_until_complete(server.start())
    try:
        store.insert_many([("open", "campaign-uid", "7", None, None, 1_000, None)])
        label = RelayStatusLabel(server.url, SYNC)
        qtbot.addWidget(label)
        assert label.text() == "Relay 127.0.0.1: checking…"
        state = loop.run_until_complete(label.refresh())
        assert state.reachable and state.waiting == 1
        assert label.text() == "Relay 127.0.0.1: reachable · last sync never · 1 event waiting"

        wrong = RelayStatusLabel(server.url, "w" * 64)
        qtbot.addWidget(wrong)
        loop.run_until_complete(wrong.refresh())
        assert "not reachable" in wrong.text() and "refused the sync secret" in wrong.toolTip()
    finally:
        loop.run_until_complete(server.stop())
        store.close()
    loop.run_until_complete(label.refresh())
    assert label.text().startswith("Relay 127.0.0.1: not reachable (cannot reach the relay")


def test_the_settings_group_checks_the_url_copies_the_secret_and_asks_the_relay(qtbot, loop, home, tmp_path):
    from PySide6.QtGui import QGuiApplication

    from app.relay_box import RelayBox
    from engine.relay.secrets import installation_sync_secret

    box = RelayBox("")
    qtbot.addWidget(box)
    assert box.problems() == [] and box.values() == {"relay_url": ""}
    assert box.status.text().startswith("Local only")
    box.url.setText("http://track.example.com")
    assert "https://" in box.problems()[0] and not box.check.isEnabled()
    box.copy_sync_secret()
    assert QGuiApplication.clipboard().text() == installation_sync_secret().decode()

    store = RelayStore(tmp_path / "relay.db")
    server = RelayServer(build_relay_app(TrackingTokens(b"t" * 64), RelaySink(store), store=store,
                                         sync_secret=installation_sync_secret()))
    loop.run_until_complete(server.start())
    try:
        box.url.setText(server.url + "/")
        assert box.problems() == [] and box.values() == {"relay_url": server.url}
        loop.run_until_complete(box.check_relay())
        assert box.status.text() == "Relay 127.0.0.1: reachable · last sync never · 0 events waiting"
    finally:
        loop.run_until_complete(server.stop())
        store.close()


def test_the_relay_url_is_kept_and_an_http_relay_keeps_ok_disabled(qtbot, home):
    from PySide6.QtCore import QSettings

    from app.settings import AppSettings
    from app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(AppSettings())
    qtbot.addWidget(dialog)
    dialog.relay.url.setText("http://track.example.com")
    assert not dialog.ok_enabled() and "https://" in dialog.error_label.text()
    dialog.relay.url.setText("https://track.example.com/")
    assert dialog.ok_enabled()
    chosen = dialog.result_settings()
    assert chosen.relay_url == "https://track.example.com"
    chosen.save(QSettings())
    assert AppSettings.load(QSettings()).relay_url == "https://track.example.com"

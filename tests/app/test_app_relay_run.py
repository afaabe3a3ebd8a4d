"""A real run through the relay, as the user starts it from the app: the Run dialog offers the
relay once Settings has its URL, choosing it restarts the engine pulling from the relay with
links pointing there, and the status bar shows the relay's line while the run is open."""

from __future__ import annotations

from test_app_run import _no_engine_left_behind, close_window, open_window  # noqa: F401

RELAY = "http://127.0.0.1:9"  # loopback may be plain http; nothing answers there


def test_the_run_dialog_offers_the_relay_set_in_settings(qtbot, home):
    from app.campaign_launch import run_target
    from app.engine_process import EngineOptions
    from app.paths import SAMPLE_FLOW, SAMPLE_LEADS
    from app.run_dialog import RunDialog
    from app.settings import AppSettings
    from engine.flow.fileformat import load_flow

    flow = load_flow(SAMPLE_FLOW)
    target = run_target(flow, AppSettings(relay_url="https://track.example.com"), {}, EngineOptions(), 8025)
    dialog = RunDialog("Spring offer", False, SAMPLE_LEADS, target=target)
    qtbot.addWidget(dialog)
    assert dialog.through_relay.isEnabled() and dialog.through_relay.isChecked()
    assert dialog.through_relay.text() == "Through the relay at https://track.example.com"
    assert dialog.request().through_relay is True
    assert run_target(flow, AppSettings(), {}, EngineOptions(), 8025).relay_url == ""


def test_the_engine_options_point_links_at_the_relay_and_pull_from_it():
    from app.engine_process import EngineOptions

    local = EngineOptions(public_url="http://192.168.1.5:8025")
    assert "MAILBRANCH_RELAY_URL" not in local.environment()
    assert local.command()[-2:] == ["--public-url", "http://192.168.1.5:8025"]
    relay = EngineOptions(public_url="http://192.168.1.5:8025", relay_url="https://track.example.com")
    assert relay.environment()["MAILBRANCH_RELAY_URL"] == "https://track.example.com"
    assert relay.command()[-2:] == ["--public-url", "https://track.example.com"]


def test_a_real_run_through_the_relay_restarts_the_engine_with_it_and_shows_its_line(qtbot, qloop, home,
                                                                                     monkeypatch):
    from app.main_window import app_settings
    from app.paths import SAMPLE_LEADS
    from app.run_dialog import RunRequest
    from app.settings import AppSettings
    from engine.leads.importer import import_leads

    AppSettings(relay_url=RELAY).save(app_settings())
    window = open_window(qtbot, home)
    assert window.run_target().relay_url == RELAY
    assert window.relay_label.isHidden()
    first_pid = window.engine.pid
    monkeypatch.setattr(window, "ask_run_options", lambda simulated: RunRequest(
        SAMPLE_LEADS, import_leads(SAMPLE_LEADS), simulated, through_relay=True))
    assert window.run_campaign(False)
    qtbot.waitUntil(lambda: window.current_run() is not None, timeout=20000)
    assert window.engine.pid != first_pid, "the engine was started again, pulling from the relay"
    assert window.engine.options.relay_url == RELAY
    assert window.engine.options.environment()["MAILBRANCH_RELAY_URL"] == RELAY
    assert window.engine.options.command()[-2:] == ["--public-url", RELAY]
    assert window.engine_facts.get("tracking", RELAY).startswith(RELAY)
    assert window.relay_label.isVisible()
    from app.main_window import options_from_settings

    assert options_from_settings().relay_url == RELAY, "the next launch goes on pulling from the relay"
    qtbot.waitUntil(lambda: window.relay_label.text().startswith("Relay 127.0.0.1: not reachable"), timeout=15000)

    # A local-only run while this one runs would move its links: refused with a sentence.
    monkeypatch.setattr(window, "ask_run_options", lambda simulated: RunRequest(
        SAMPLE_LEADS, import_leads(SAMPLE_LEADS), simulated, through_relay=False))
    window.tabs.show_flow()
    window.run_campaign(False)
    qtbot.waitUntil(lambda: "tracks one way at a time" in window.last_notice, timeout=10000)
    assert window.engine.options.relay_url == RELAY
    close_window(qtbot, window, "stop")


def test_one_way_of_tracking_at_a_time_and_local_only_needs_an_address_inboxes_accept():
    from app.campaign_launch import engine_relay_for
    from app.engine_process import EngineOptions
    from app.paths import SAMPLE_FLOW
    from app.settings import AppSettings
    from engine.flow.fileformat import load_flow

    flow = load_flow(SAMPLE_FLOW)
    relay = AppSettings(relay_url="https://track.example.com/", sender_address="news@shop.example")
    local = EngineOptions()
    assert engine_relay_for(True, flow, relay, {}, local, 8025, []) == ("https://track.example.com", "")
    assert engine_relay_for(False, flow, relay, {}, local, 8025, []) == ("", "")
    wanted, why = engine_relay_for(True, flow, relay, {}, local, 8025, [7])
    assert wanted is None and why.startswith("Campaign 7 runs local only; the engine tracks one way at a time")
    wanted, why = engine_relay_for(True, flow, AppSettings(), {}, local, 8025, [])
    assert wanted is None and "Settings first" in why
    # Through a real server, links to http://127.0.0.1 would be refused by inboxes: local only says so.
    real = EngineOptions(smtp_url="smtp+starttls://ana@mail.shop.example:587")
    wanted, why = engine_relay_for(False, flow, relay, {}, real, 8025, [])
    assert wanted is None and why.startswith("Not sending local only:") and "https" in why
    assert engine_relay_for(True, flow, relay, {}, real, 8025, [])[0] == "https://track.example.com"

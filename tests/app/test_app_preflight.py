"""Issue 11 in the Run dialog: before a real run, the pre-flight panel lists the checks
(run on a worker thread), and a campaign without a sender domain or an https public
URL cannot be started against a real server; simulations show neither."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.preflight_panel import campaign_preflight, real_run_refusal
from app.run_dialog import RunDialog, RunTarget

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "resources" / "flows" / "sample.json").read_text(encoding="utf-8"))
LEADS = ROOT / "resources" / "leads" / "sample-leads.csv"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))


def target(flow_json: dict, public: str) -> RunTarget:
    outgoing = "mail.example:587"
    return RunTarget(outgoing, public, ["Spring Shop <news@spring-shop.example>"],
                     preflight=campaign_preflight(flow_json, public, "smtp://mail.example:587?rate=5"),
                     problem=real_run_refusal(flow_json, outgoing, public))


def test_a_real_run_without_a_sender_domain_cannot_start_and_says_why(qtbot):
    dialog = RunDialog("Spring offer (sample)", False, LEADS, target=target(SAMPLE, "http://127.0.0.1:8025"))
    qtbot.addWidget(dialog)
    assert not dialog.start_button.isEnabled()
    assert "no sender domain" in dialog.note.text()
    report = dialog.preflight_panel.wait()
    lines = [dialog.preflight_panel.lines.item(i).text() for i in range(dialog.preflight_panel.lines.count())]
    assert not report.ready and any(line.startswith("✗  Sender") for line in lines)
    assert any("Emails per day" in line for line in lines)


def test_with_a_sender_and_an_https_url_it_can_start_and_still_shows_the_checklist(qtbot):
    flow = dict(SAMPLE, sender={"name": "Spring Shop", "address": "news@spring-shop.example"})
    dialog = RunDialog("Spring offer (sample)", False, LEADS, target=target(flow, "https://t.spring-shop.example"))
    qtbot.addWidget(dialog)
    assert dialog.start_button.isEnabled()
    assert dialog.preflight_panel.wait() is not None
    assert dialog.preflight_panel.lines.count() >= 10


def test_simulations_and_the_sandbox_have_no_panel_and_no_refusal(qtbot):
    simulated = RunDialog("Spring offer (sample)", True, LEADS, target=target(SAMPLE, "http://127.0.0.1:8025"))
    qtbot.addWidget(simulated)
    assert simulated.preflight_panel is None and simulated.start_button.isEnabled()
    assert real_run_refusal(SAMPLE, None, "http://127.0.0.1:8025") is None  # the sandbox
    assert real_run_refusal(SAMPLE, "127.0.0.1:2525", "") is None  # a server on this computer


def test_send_a_test_from_the_run_dialog_reaches_the_sandbox_marked(qtbot, tmp_path):
    import asyncio
    import threading

    from engine.delivery.mailbox import list_messages
    from engine.delivery.sandbox import SandboxServer
    from engine.delivery.smtp import SmtpSettings
    from engine.store.database import Database

    db = Database(tmp_path / "box.db")
    db.migrate()
    loop = asyncio.new_event_loop()
    sandbox = SandboxServer(db)
    loop.run_until_complete(sandbox.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        flow = dict(SAMPLE, sender={"name": "Spring Shop", "address": "news@spring-shop.example"})
        run_target = target(flow, "https://t.spring-shop.example")
        run_target.flow_json = flow
        run_target.test_smtp = SmtpSettings.from_url("sandbox").with_port(sandbox.port)
        dialog = RunDialog("Spring offer (sample)", False, LEADS, target=run_target)
        qtbot.addWidget(dialog)
        test = dialog.test_send_dialog()
        qtbot.addWidget(test)
        test.to.setText("me@spring-shop.example")
        test.lead.setCurrentIndex(2)  # the second lead of the list
        test.send()
        assert test.wait().startswith("Sent the test of e1")
    finally:
        asyncio.run_coroutine_threadsafe(sandbox.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
    with db.session() as s:
        (message,) = list_messages(s)
    assert message.subject == "[Test] Hi Ben, our spring offer" and message.mail_from == "news@spring-shop.example"

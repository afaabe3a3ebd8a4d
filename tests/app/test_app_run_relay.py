"""The Run dialog's choice for a real run: local only, or through the relay at its URL."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEADS = ROOT / "resources" / "leads" / "sample-leads.csv"


def test_without_a_relay_a_real_run_is_local_only(qtbot, home):
    from app.run_dialog import RunDialog, RunTarget

    dialog = RunDialog("Spring offer", False, LEADS, target=RunTarget(outgoing="smtp://mail.example.com",
                                                                     public_url="http://127.0.0.1:8025"))
    qtbot.addWidget(dialog)
    assert dialog.local_only.isChecked() and not dialog.through_relay.isEnabled()
    assert dialog.through_relay.text() == "Through the relay (set its URL in Settings first)"
    assert dialog.request().through_relay is False
    _question, details = dialog.confirmation_text()
    assert "only works on this computer" in details


def test_with_a_relay_the_run_goes_through_it_unless_local_only_is_chosen(qtbot, home):
    from app.run_dialog import RunDialog, RunTarget

    target = RunTarget(outgoing="smtp://mail.example.com", public_url="http://127.0.0.1:8025",
                       relay_url="https://track.example.com")
    dialog = RunDialog("Spring offer", False, LEADS, target=target)
    qtbot.addWidget(dialog)
    assert dialog.through_relay.isChecked() and dialog.through_relay.text() == \
        "Through the relay at https://track.example.com"
    assert dialog.relay_status.text() == "Relay track.example.com: checking…"
    assert dialog.request().through_relay is True
    _question, details = dialog.confirmation_text()
    assert "point to the relay at https://track.example.com" in details and "only works" not in details

    dialog.local_only.setChecked(True)
    assert dialog.request().through_relay is False
    assert "only works on this computer" in dialog.confirmation_text()[1]


def test_a_simulation_offers_no_relay(qtbot, home):
    from app.run_dialog import RunDialog, RunTarget

    dialog = RunDialog("Spring offer", True, LEADS, target=RunTarget(relay_url="https://track.example.com"))
    qtbot.addWidget(dialog)
    assert not hasattr(dialog, "through_relay")
    assert dialog.request().through_relay is False

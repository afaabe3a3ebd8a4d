"""What a started campaign sends and what the Run dialog says first come from one place (app/campaign_launch.py)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.campaign_launch import campaign_senders, flow_to_run, run_target  # noqa: E402
from app.engine_process import EngineOptions  # noqa: E402
from app.paths import SAMPLE_FLOW  # noqa: E402
from app.settings import AppSettings  # noqa: E402
from engine.flow.fileformat import load_flow  # noqa: E402

SHOP = AppSettings(sender_name="Spring Shop", sender_address="news@shop.example")


def test_the_default_sender_fills_a_flow_that_names_none_and_the_dialog_names_it():
    flow = load_flow(SAMPLE_FLOW)
    assert flow_to_run(flow, SHOP)["sender"] == {"name": "Spring Shop", "address": "news@shop.example"}
    assert campaign_senders(flow, SHOP) == ["Spring Shop <news@shop.example>"]
    assert "sender" not in flow_to_run(flow, AppSettings()), "no default in Settings: the flow goes as drawn"
    assert campaign_senders(flow, AppSettings()), "the dialog still names who the emails are from"


def test_the_running_engine_says_where_mail_goes_before_the_settings_do():
    flow = load_flow(SAMPLE_FLOW)
    configured = EngineOptions(smtp_url="smtp+starttls://ana@mail.shop.example:587", tracking_port=8025)
    target = run_target(flow, SHOP, {}, configured, 9100)
    assert (target.outgoing, target.public_url) == ("mail.shop.example:587", "http://127.0.0.1:9100")
    reattached = run_target(flow, SHOP, {"outgoing": None, "tracking": "https://t.shop.example"}, configured, 9100)
    assert (reattached.outgoing, reattached.public_url) == (None, "https://t.shop.example")
    assert run_target(flow, SHOP, {}, EngineOptions(), None).outgoing is None, "the sandbox sends nowhere"

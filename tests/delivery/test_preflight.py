"""Issue 11, item 7: pre-flight checks the sender domain's records (served by a stub
DNS), the https public URL, one-click unsubscribe, the postal address, the
Gmail/Yahoo rules and the emails a day; without a network it says "could not
check" rather than failing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.delivery.dkim_signing import new_key
from engine.delivery.preflight import COULD_NOT_CHECK, DnsUnavailable, preflight
from engine.delivery.smtp import SmtpSettings
from engine.flow.fileformat import loads_flow
from engine.run.engine import LeadInput

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "resources" / "flows" / "sample.json").read_text(encoding="utf-8"))


def sample(**changes):
    return loads_flow(json.dumps({**SAMPLE, **changes}))


SENDER = {"name": "Spring Shop", "address": "news@shop.example"}


def good_dns(key) -> dict[str, list[str]]:
    return {"shop.example": ["v=spf1 include:_spf.provider.example ~all", "google-site-verification=x"],
            key.record_name: [key.record_value()],
            "_dmarc.shop.example": ["v=DMARC1; p=none; rua=mailto:dmarc@shop.example"]}


def test_a_set_up_campaign_is_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path))
    key = new_key("shop.example", "mb1")
    dns = good_dns(key)
    report = preflight(sample(sender=SENDER), public_url="https://t.shop.example",
                       smtp=SmtpSettings.from_url("smtps://u@smtp.gmail.com:465?rate=1"),
                       leads=[LeadInput(f"l{i}", f"l{i}@example.com") for i in range(30)],
                       lookup=lambda name: dns.get(name, []), probe=lambda url: None)
    statuses = {c.key: c.status for c in report.checks}
    assert report.ready, [c for c in report.checks if c.status == "fail"]
    for key_name in ("sender", "spf", "dkim", "dmarc", "alignment", "public-url", "one-click", "postal-address",
                     "rule-auth", "rule-dmarc", "rule-alignment", "rule-unsubscribe", "rule-tls", "volume"):
        assert statuses[key_name] == "pass", key_name
    assert "within Google Workspace's 2,000 a day" in report.get("volume").detail


def test_missing_records_fail_with_what_to_publish(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path))
    key = new_key("shop.example", "mb1")
    other = new_key("other.example", "mb1")
    dns = {key.record_name: [other.record_value()]}  # a stale key is published
    report = preflight(sample(sender=SENDER), public_url="http://127.0.0.1:8025", lookup=lambda n: dns.get(n, []),
                       probe=lambda url: None)
    assert not report.ready
    assert "v=spf1" in report.get("spf").detail
    assert "another key" in report.get("dkim").detail
    assert "_dmarc.shop.example" in report.get("dmarc").detail
    assert report.get("public-url").status == "fail" and report.get("one-click").status == "fail"


def test_without_a_network_the_dns_checks_say_could_not_check(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path))
    new_key("shop.example", "mb1")

    def unreachable(_name):
        raise DnsUnavailable("the network is unreachable")

    report = preflight(sample(sender=SENDER), public_url="https://t.shop.example", lookup=unreachable,
                       probe=unreachable)
    for key_name in ("spf", "dkim", "dmarc", "public-url"):
        check = report.get(key_name)
        assert check.status == "unknown" and COULD_NOT_CHECK in check.detail, key_name
    assert report.ready  # what could not be checked does not stop a campaign


def test_no_sender_and_no_postal_address_fail_and_the_rate_decides_the_days(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path))
    theme = {k: v for k, v in SAMPLE["theme"].items() if k != "address"}
    leads = [LeadInput(f"l{i}", f"l{i}@example.com") for i in range(200)]
    report = preflight(sample(theme=theme), public_url=None, leads=leads, daily_limit=100,
                       smtp=SmtpSettings.from_url("smtp://mail.example:587?rate=0.001"),
                       lookup=lambda n: [], probe=lambda url: None)
    assert "mailbranch.local" in report.get("sender").detail and report.get("sender").status == "fail"
    assert report.get("postal-address").status == "fail"
    volume = report.get("volume")
    # 200 first emails at one every 1,000 s: 86 or 87 a day, within 100.
    assert volume.status == "pass" and "at 0.001/s" in volume.detail
    fast = preflight(sample(theme=theme), public_url=None, leads=leads, daily_limit=100,
                     smtp=SmtpSettings.from_url("smtp://mail.example:587?rate=1"), lookup=lambda n: [],
                     probe=lambda url: None)
    assert fast.get("volume").status == "fail" and "over your plan" in fast.get("volume").detail


def test_the_command_prints_the_checklist_and_exits_1_when_not_ready(tmp_path):
    env = {"MAILBRANCH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "engine.cli", "preflight", str(ROOT / "resources" / "flows" /
                             "sample.json"), "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ready"] is False
    assert {c["key"] for c in report["checks"]} >= {"sender", "public-url", "one-click", "postal-address",
                                                    "rule-auth", "rule-dmarc", "rule-spam-rate", "volume"}

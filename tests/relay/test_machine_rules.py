"""The documented rules that tell a reader's open or click from a machine's (SEMANTICS 5)."""

from __future__ import annotations

import json

import pytest

from engine.tracking.machine import (
    HEAD,
    PRIVACY_PROXY,
    SCANNER,
    TOO_SOON,
    BurstWatch,
    RulesError,
    load_rules,
)

CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.fixture
def rules():
    return load_rules()


@pytest.mark.parametrize("method,agent,address,reason", [
    ("GET", CHROME, "203.0.113.9", None),  # a reader in a browser
    ("GET", "Mozilla/5.0", "203.0.113.9", PRIVACY_PROXY),  # Apple Mail Privacy Protection's fetcher
    ("GET", CHROME, "17.58.100.1", PRIVACY_PROXY),  # from Apple's network
    ("GET", CHROME, "::ffff:17.58.100.1", PRIVACY_PROXY),  # the same, as an IPv6-mapped address
    ("GET", "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
     "66.249.84.1", None),  # Gmail's image proxy fetches when the reader opens: human
    ("GET", "Mozilla/5.0 (compatible; Mimecast URL Protect)", "203.0.113.9", SCANNER),
    ("GET", "Barracuda Sentinel (EE)", "203.0.113.9", SCANNER),
    ("HEAD", CHROME, "203.0.113.9", HEAD),
    ("GET", None, None, None),  # nothing known: the reader's benefit of the doubt
])
def test_request_rules(rules, method, agent, address, reason):
    assert rules.classify_request(method, agent, address) == reason


def test_a_click_within_seconds_of_delivery_is_a_scanners(rules):
    delivered = 1_000_000
    assert rules.too_soon("click", delivered + 300, delivered) == TOO_SOON
    assert rules.too_soon("click", delivered + 60_000, delivered) is None
    assert rules.too_soon("open", delivered + 300, delivered) is None  # the rule is about clicks
    assert rules.too_soon("click", delivered + 300, None) is None  # not delivered as far as we know


def test_many_links_of_one_message_within_a_second_are_a_burst(rules):
    watch = BurstWatch(rules)
    assert watch.note(41, "https://a.example/", 1000, "a") == []
    assert watch.note(41, "https://a.example/", 1200, "a2") == []  # the same link twice: a double click
    assert sorted(watch.note(41, "https://b.example/", 1500, "b")) == ["a", "a2", "b"]
    assert watch.note(42, "https://b.example/", 1600, "other message") == []
    assert watch.note(41, "https://c.example/", 9000, "much later") == []


def test_the_rules_are_a_data_file_that_can_be_replaced(tmp_path, monkeypatch):
    custom = tmp_path / "rules.json"
    custom.write_text(json.dumps({"format": "mailbranch.machine-rules/1", "scanner_agents": ["AcmeGuard"],
                                  "head_is_machine": False, "click_seconds_after_delivery": 0}))
    monkeypatch.setenv("MAILBRANCH_MACHINE_RULES", str(custom))
    rules = load_rules()
    assert rules.classify_request("GET", "AcmeGuard/2.0", None) == SCANNER
    assert rules.classify_request("HEAD", CHROME, None) is None
    assert rules.classify_request("GET", "Mozilla/5.0", None) is None  # not listed in this file
    assert rules.too_soon("click", 1, 0) is None


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON"),
    ('{"format": "something/1"}', "mailbranch.machine-rules/1"),
    ('{"format": "mailbranch.machine-rules/1", "privacy_proxy_networks": ["17.0.0.0/33"]}', "17.0.0.0/33"),
    ('{"format": "mailbranch.machine-rules/1", "burst_seconds": -1}', "burst_seconds"),
])
def test_a_bad_rules_file_is_one_clear_sentence(tmp_path, content, message):
    path = tmp_path / "rules.json"
    path.write_text(content)
    with pytest.raises(RulesError, match=message):
        load_rules(path)


@pytest.mark.parametrize("address", [
    "17.0.0.0", "17.255.255.255", "16.255.255.255", "18.0.0.0",  # the edges of 17.0.0.0/8
    "10.1.255.255", "10.2.0.0", "10.3.0.0", "10.3.0.1", "10.4.0.0",  # inside, between and after merged networks
    "2001:db8::1", "2001:db8:1::", "2001:db9::", "::ffff:10.3.0.1", "fe80::1%eth0",
    "not an address", "", " 17.1.2.3 ",
])
def test_network_rules_match_what_ipaddress_says(address):
    """Client addresses are looked up in sorted ranges, not network by network: the answer is the same."""
    import ipaddress

    from engine.tracking.machine import parse_rules

    privacy = ["17.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/32", "2001:db8::/48"]
    rules = parse_rules({"format": "mailbranch.machine-rules/1", "privacy_proxy_networks": privacy,
                         "scanner_networks": ["10.0.0.0/8"]})
    try:
        ip = ipaddress.ip_address(address.strip())
        ip = getattr(ip, "ipv4_mapped", None) or ip
    except ValueError:
        ip = None
    networks = [ipaddress.ip_network(n) for n in privacy]
    expected = None
    if ip is not None and any(ip.version == net.version and ip in net for net in networks):
        expected = PRIVACY_PROXY
    elif ip is not None and ip.version == 4 and ip in ipaddress.ip_network("10.0.0.0/8"):
        expected = SCANNER
    assert rules.classify_request("GET", CHROME, address) == expected

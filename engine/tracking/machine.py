"""Machine or human: the documented rules that tell a reader's open or click
from one a machine made (SEMANTICS 5).

Apple Mail Privacy Protection loads every pixel the moment a message
arrives, and corporate link scanners follow every link within seconds of
delivery. Both are recorded (reports show them beside the reader's own
events), but a condition counts them only when it says so.

The rules are data (``machine_rules.json`` beside this module, or the file
named by ``$MAILBRANCH_MACHINE_RULES``) so they can be updated without a code
change. Two kinds of rule need different knowledge:

- *request rules* (method, User-Agent, client address) are decided where the
  request arrives: the local tracking server or the public relay;
- *context rules* (a click within seconds of delivery, many links of one
  message clicked within a second) need the send's delivery time and the
  message's other clicks, so they are decided where events enter the engine
  (``engine/runtime/sink.py`` for the local server, the relay's sync).
"""

from __future__ import annotations

import ipaddress
import json
import os
import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from engine.tracking.networks import Network, NetworkSet, parse_address

RULES_FILE = Path(__file__).with_name("machine_rules.json")
RULES_ENV = "MAILBRANCH_MACHINE_RULES"
FORMAT = "mailbranch.machine-rules/1"

#: Reasons an event was taken for a machine's (stored in reports and the relay's log).
HEAD = "head"
PRIVACY_PROXY = "privacy-proxy"
SCANNER = "scanner"
TOO_SOON = "too-soon-after-delivery"
BURST = "link-burst"
_HUMAN_PROXY = "human-proxy"  # internal: fetched for the reader (never stored)



class RulesError(ValueError):
    """The rules file cannot be used; the message says which setting is wrong."""


@dataclass(frozen=True)
class MachineRules:
    human_proxy_agents: tuple[str, ...] = ()
    privacy_proxy_exact_agents: tuple[str, ...] = ()
    privacy_proxy_agents: tuple[str, ...] = ()
    privacy_proxy_networks: tuple[Network, ...] = ()
    scanner_agents: tuple[str, ...] = ()
    scanner_networks: tuple[Network, ...] = ()
    head_is_machine: bool = True
    #: A click this soon after the email was delivered is a scanner's (0: rule off).
    click_ms_after_delivery: int = 1000
    #: This many different links of one message clicked within ``burst_ms``: a scanner.
    burst_links: int = 2
    burst_ms: int = 1000
    _lower: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    #: User-Agent -> its verdict: a handful of agents make most requests, so each is read once.
    _agents: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: The networks as sorted ranges (``networks.py``), built once: a request costs a bisection.
    _nets: dict[str, NetworkSet] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("human_proxy_agents", "privacy_proxy_agents", "scanner_agents"):
            self._lower[name] = tuple(s.lower() for s in getattr(self, name) if s)
        self._nets[PRIVACY_PROXY] = NetworkSet(self.privacy_proxy_networks)
        self._nets[SCANNER] = NetworkSet(self.scanner_networks)

    # -- request rules ---------------------------------------------------------
    def classify_request(self, method: str, user_agent: Optional[str], address: Optional[str]) -> Optional[str]:
        """The reason this request is a machine's, or None for a reader's."""
        if method.upper() == "HEAD" and self.head_is_machine:
            return HEAD
        verdict = self._agent(user_agent or "")
        if verdict == _HUMAN_PROXY:
            return None  # fetched for the reader, when the reader opened the email
        if verdict:
            return verdict
        privacy, scanner = self._nets[PRIVACY_PROXY], self._nets[SCANNER]
        if not (privacy or scanner):
            return None
        ip = parse_address(address)
        if ip is not None:
            if privacy.contains(*ip):
                return PRIVACY_PROXY
            if scanner.contains(*ip):
                return SCANNER
        return None

    def _agent(self, user_agent: str) -> str:
        """What the User-Agent alone says: a reason, ``_HUMAN_PROXY``, or "" (nothing)."""
        verdict = self._agents.get(user_agent)
        if verdict is not None:
            return verdict
        agent = user_agent.strip()
        lower = agent.lower()
        if any(s in lower for s in self._lower["human_proxy_agents"]):
            verdict = _HUMAN_PROXY
        elif agent in self.privacy_proxy_exact_agents or any(s in lower for s in self._lower["privacy_proxy_agents"]):
            verdict = PRIVACY_PROXY
        elif any(s in lower for s in self._lower["scanner_agents"]):
            verdict = SCANNER
        else:
            verdict = ""
        if len(self._agents) >= 4096:
            self._agents.clear()
        self._agents[user_agent] = verdict
        return verdict

    # -- context rules ---------------------------------------------------------
    def too_soon(self, kind: str, at: int, delivered_at: Optional[int]) -> Optional[str]:
        """A click within the first seconds after delivery (or, clocks apart, just before it)."""
        if kind != "click" or delivered_at is None or self.click_ms_after_delivery <= 0:
            return None
        return TOO_SOON if -self.click_ms_after_delivery <= at - delivered_at < self.click_ms_after_delivery else None


def _strings(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise RulesError(f"'{key}' must be a list of strings")
    return tuple(value)


def _networks(data: dict[str, Any], key: str) -> tuple[Network, ...]:
    out = []
    for text in _strings(data, key):
        try:
            out.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise RulesError(f"'{text}' in '{key}' is not a network such as 17.0.0.0/8") from None
    return tuple(out)


def _number(data: dict[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RulesError(f"'{key}' must be a number of zero or more")
    return value


def parse_rules(data: object) -> MachineRules:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RulesError(f"a machine rules file is a JSON object with \"format\": \"{FORMAT}\"")
    head = data.get("head_is_machine", True)
    if not isinstance(head, bool):
        raise RulesError("'head_is_machine' must be true or false")
    return MachineRules(
        human_proxy_agents=_strings(data, "human_proxy_agents"),
        privacy_proxy_exact_agents=_strings(data, "privacy_proxy_exact_agents"),
        privacy_proxy_agents=_strings(data, "privacy_proxy_agents"),
        privacy_proxy_networks=_networks(data, "privacy_proxy_networks"),
        scanner_agents=_strings(data, "scanner_agents"),
        scanner_networks=_networks(data, "scanner_networks"),
        head_is_machine=head,
        click_ms_after_delivery=int(_number(data, "click_seconds_after_delivery", 1) * 1000),
        burst_links=max(2, int(_number(data, "burst_links", 2))),
        burst_ms=int(_number(data, "burst_seconds", 1) * 1000),
    )


def load_rules(path: Union[str, Path, None] = None) -> MachineRules:
    """The rules from ``path``, ``$MAILBRANCH_MACHINE_RULES`` or the file shipped beside this module."""
    path = Path(path or os.environ.get(RULES_ENV) or RULES_FILE)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"cannot read the machine rules file {path} ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise RulesError(f"the machine rules file {path} is not valid JSON ({exc})") from None
    try:
        return parse_rules(data)
    except RulesError as exc:
        raise RulesError(f"{path}: {exc}") from None


_default: Optional[MachineRules] = None


def default_rules() -> MachineRules:
    """The rules loaded once per process."""
    global _default
    if _default is None:
        _default = load_rules()
    return _default


class BurstWatch:
    """Remembers the last second of clicks per message to spot a scanner's burst.

    ``note`` returns the tags of every click in a burst (the new one and the
    earlier ones, which the caller re-marks as machine events while they are
    still pending). Memory stays small: a message's clicks older than the
    window are dropped as new ones arrive, and idle messages are swept.
    """

    def __init__(self, rules: MachineRules) -> None:
        self.rules = rules
        self._clicks: dict[Hashable, deque[tuple[int, str, Hashable]]] = {}
        self._notes = 0
        self._lock = threading.Lock()  # sinks write from worker threads (PostgreSQL: at once)

    def note(self, send: Hashable, url: Optional[str], at: int, tag: Hashable) -> list[Hashable]:
        window = self.rules.burst_ms
        if window <= 0:
            return []
        with self._lock:
            return self._note(send, url or "", at, tag, window)

    def _note(self, send: Hashable, url: str, at: int, tag: Hashable, window: int) -> list[Hashable]:
        recent = self._clicks.setdefault(send, deque())
        while recent and recent[0][0] < at - window:
            recent.popleft()
        recent.append((at, url, tag))
        self._notes += 1
        if self._notes % 4096 == 0:
            self._sweep(at)
        near = [c for c in recent if abs(c[0] - at) < window]
        if len({c[1] for c in near}) >= self.rules.burst_links:
            return [c[2] for c in near]
        return []

    def _sweep(self, now: int) -> None:
        old = [k for k, v in self._clicks.items() if not v or v[-1][0] < now - 60_000]
        for key in old:
            del self._clicks[key]

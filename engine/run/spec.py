"""A flow compiled for running: fast lookups the handlers need, nothing mutable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from engine.flow.durations import duration_ms
from engine.flow.model import Flow, Node


@dataclass(frozen=True)
class ConditionSpec:
    event: str
    email: Optional[str]
    url: Optional[str]
    mode: str


class CampaignSpec:
    """What the marketer drew, read-only, with an optional mode override."""

    def __init__(self, flow: Flow, mode_override: Optional[str] = None) -> None:
        self.flow = flow
        self.types: dict[str, str] = {n.id: n.type for n in flow.nodes}
        self.nodes: dict[str, Node] = {n.id: n for n in flow.nodes}
        self.targets: dict[tuple[str, str], str] = {(e.source, e.port): e.target for e in flow.edges}
        self.durations: dict[str, int] = {}
        self.conditions: dict[str, ConditionSpec] = {}
        for n in flow.nodes:
            if n.type == "wait":
                self.durations[n.id] = duration_ms(n.get("duration"))
            elif n.type == "condition":
                self.conditions[n.id] = ConditionSpec(
                    event=n.get("event"), email=n.get("email") or None, url=n.get("url") or None,
                    mode=mode_override or n.mode)
        self.start = next(n.id for n in flow.nodes if n.type == "start")

    def target(self, node: str, port: str = "next") -> str:
        return self.targets[(node, port)]

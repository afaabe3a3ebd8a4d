"""A flow compiled for running: fast lookups the handlers need, nothing mutable.

Each node type compiles its own settings (``NodeType.compile``) into a small
frozen object the handlers read (``compiled[node_id]``); the spec itself
knows no type by name.
"""

from __future__ import annotations

from typing import Any, Optional

from engine.flow.campaign import goal_url
from engine.flow.model import Flow, Node
from engine.nodes.base import NodeType
from engine.nodes.registry import node_type


class CampaignSpec:
    """What the marketer drew, read-only, with an optional mode override."""

    def __init__(self, flow: Flow, mode_override: Optional[str] = None) -> None:
        self.flow = flow
        self.types: dict[str, str] = {n.id: n.type for n in flow.nodes}
        self.nodes: dict[str, Node] = {n.id: n for n in flow.nodes}
        self.targets: dict[tuple[str, str], str] = {(e.source, e.port): e.target for e in flow.edges}
        self.descriptors: dict[str, NodeType] = {n.id: node_type(n.type) for n in flow.nodes}
        options = {"mode": mode_override} if mode_override else {}
        self.compiled: dict[str, Any] = {n.id: self.descriptors[n.id].compile(n, flow, options) for n in flow.nodes}
        #: Bound handlers by node id: the engine's inner loop looks them up once per step.
        self.enter = {node_id: d.enter for node_id, d in self.descriptors.items()}
        self.resume = {node_id: d.resume for node_id, d in self.descriptors.items()}
        self.start = next(n.id for n in flow.nodes if self.descriptors[n.id].is_entry)
        #: Whether some node reads the lead's key or fields while running.
        self.reads_lead = any(d.reads_lead for d in self.descriptors.values())
        #: The goal's click URL, normalised (SEMANTICS 10), or None.
        self.goal = goal_url(flow)

    def target(self, node: str, port: str = "next") -> str:
        return self.targets[(node, port)]

    def descriptor(self, node: str) -> NodeType:
        return self.descriptors[node]

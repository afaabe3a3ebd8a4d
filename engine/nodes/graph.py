"""Facts about a flow's graph that node types' own checks ask for.

Computed lazily and once per validation: the dominator tree from start, the
emails that can be the nearest one before a node, and the nodes some path
from start reaches without passing any email. Conditions use them to check
which email they watch (SEMANTICS 3) without enumerating paths.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import networkx as nx

from engine.nodes.registry import node_type

if TYPE_CHECKING:
    from engine.flow.model import Node


class GraphFacts:
    def __init__(self, nodes: dict[str, Node], graph: nx.DiGraph, start: str, reachable: set[str]) -> None:
        self.nodes = nodes
        self.start = start
        self.reachable = reachable
        self.sub = graph.subgraph(reachable)

    def sends(self, node_id: str) -> bool:
        return node_type(self.nodes[node_id].type).sends

    @cached_property
    def dominators(self) -> dict[str, str]:
        return nx.immediate_dominators(self.sub, self.start)

    def dominates(self, dominator: str, node: str) -> bool:
        idom = self.dominators
        while True:
            if node == dominator:
                return True
            parent = idom.get(node)
            if parent is None or parent == node:
                return False
            node = parent

    @cached_property
    def emailless(self) -> set[str]:
        """Nodes reachable from start along a path that passes no email."""
        plain = self.sub.subgraph([n for n in self.reachable if not self.sends(n)])
        return nx.descendants(plain, self.start) if self.start in plain else set()

    @cached_property
    def nearest_emails(self) -> dict[str, set[str]]:
        """For each node, the emails that can be the nearest one before it on some path."""
        nearest: dict[str, set[str]] = {}
        for node_id in nx.topological_sort(self.sub):
            found: set[str] = set()
            for pred in self.sub.predecessors(node_id):
                if self.sends(pred):
                    found.add(pred)
                else:
                    found |= nearest[pred]
            nearest[node_id] = found
        return nearest

"""The flow document: plain objects that notify listeners of every real change.

One source of truth for the editor and the engine (after orange-canvas-core's
``scheme/scheme.py``). Nodes and edges are plain data; every change goes
through ``Flow`` so that listeners hear of it, and ``Flow`` only notifies when
a value really changed. Lists are handed out as tuples (copies).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from engine.flow import errors
from engine.flow.signals import Signal
from engine.nodes.registry import node_type, type_names

FORMAT = "mailbranch.flow/1"



def node_types() -> tuple[str, ...]:
    """The ``type`` names a flow may use, in palette order (the registry's)."""
    return type_names()


@dataclass(eq=False)
class Node:
    """One step of the flow. ``settings`` hold logic, ``extra`` hold the rest."""

    id: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)

    @property
    def ports(self) -> tuple[str, ...]:
        """Output port names, in drawing order (a split's depend on its branches)."""
        return node_type(self.type).port_names(self)

    @property
    def mode(self) -> str:
        return self.settings.get("mode") or "parallel"

    def clone(self, new_id: Optional[str] = None) -> Node:
        return Node(new_id or self.id, self.type, copy.deepcopy(self.settings), copy.deepcopy(self.extra))


@dataclass(eq=False)
class Edge:
    """An edge from ``source``'s output ``port`` to ``target``."""

    source: str
    target: str
    port: str = "next"
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[str, str, str]:
        return (self.source, self.port, self.target)

    def as_dict(self) -> dict[str, str]:
        """The ``{"from", "port", "to"}`` shape findings and the CLI use."""
        return {"from": self.source, "port": self.port, "to": self.target}

    def __repr__(self) -> str:
        return f"Edge({self.source}:{self.port} -> {self.target})"


class Flow:
    """A campaign flow: nodes, edges, a name, and fields the engine does not know.

    Signals: ``node_added(node)``, ``node_removed(node)``, ``edge_added(edge)``,
    ``edge_removed(edge)``, ``setting_changed(node, key, value)`` (value is None
    when removed), ``extra_changed(node, key, value)``, ``name_changed(name)``,
    and ``changed()`` after any of them.
    """

    def __init__(self, name: str = "Untitled campaign") -> None:
        self._name = name
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        #: Unknown top-level fields of the file, kept for the round trip.
        self.extra: dict[str, Any] = {}
        self.node_added = Signal()
        self.node_removed = Signal()
        self.edge_added = Signal()
        self.edge_removed = Signal()
        self.setting_changed = Signal()
        self.extra_changed = Signal()
        self.name_changed = Signal()
        self.changed = Signal()

    # -- reading ---------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(self._nodes.values())

    @property
    def edges(self) -> tuple[Edge, ...]:
        return tuple(self._edges)

    def node(self, node_id: str) -> Node:
        return self._nodes[node_id]

    def find_node(self, node_id: str) -> Optional[Node]:
        return self._nodes.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def out_edges(self, node_id: str) -> list[Edge]:
        return [e for e in self._edges if e.source == node_id]

    def in_edges(self, node_id: str) -> list[Edge]:
        return [e for e in self._edges if e.target == node_id]

    def edge_on(self, node_id: str, port: str) -> Optional[Edge]:
        """The edge leaving ``node_id`` by ``port``, if there is one."""
        for e in self._edges:
            if e.source == node_id and e.port == port:
                return e
        return None

    def target(self, node_id: str, port: str = "next") -> Optional[str]:
        edge = self.edge_on(node_id, port)
        return edge.target if edge else None

    def start_nodes(self) -> list[Node]:
        return [n for n in self._nodes.values() if node_type(n.type).is_entry]

    def new_node_id(self, prefix: str) -> str:
        """A fresh id such as ``e4`` for a new node of the given prefix."""
        index = 1
        while f"{prefix}{index}" in self._nodes:
            index += 1
        return f"{prefix}{index}"

    def copy(self) -> Flow:
        other = Flow(self._name)
        other.extra = copy.deepcopy(self.extra)
        for n in self._nodes.values():
            other._nodes[n.id] = n.clone()
        other._edges = [Edge(e.source, e.target, e.port, copy.deepcopy(e.extra)) for e in self._edges]
        return other

    # -- editing ---------------------------------------------------------
    def set_name(self, name: str) -> None:
        if name != self._name:
            self._name = name
            self.name_changed.emit(name)
            self.changed.emit()

    def add_node(self, node: Node, index: Optional[int] = None) -> None:
        """Add a node; ``index`` puts it back at its old place (undo keeps file order)."""
        if node.id in self._nodes:
            raise errors.DuplicateNodeError(f"There is already a step with the id '{node.id}'.")
        if index is None or index >= len(self._nodes):
            self._nodes[node.id] = node
        else:
            items = list(self._nodes.items())
            items.insert(max(index, 0), (node.id, node))
            self._nodes = dict(items)
        self.node_added.emit(node)
        self.changed.emit()

    def remove_node(self, node_id: str) -> list[Edge]:
        """Remove a node and, first, every edge touching it; returns those edges."""
        node = self._nodes[node_id]
        removed = [e for e in self._edges if node_id in (e.source, e.target)]
        for e in removed:
            self.remove_edge(e)
        del self._nodes[node_id]
        self.node_removed.emit(node)
        self.changed.emit()
        return removed

    def check_connect(self, source: str, port: str, target: str) -> None:
        """Raise a ``FlowEditError`` subclass if this edge may not be drawn."""
        if source not in self._nodes:
            raise errors.UnknownNodeError(f"There is no step '{source}'.")
        if target not in self._nodes:
            raise errors.UnknownNodeError(f"There is no step '{target}'.")
        src = self._nodes[source]
        if port not in src.ports:
            raise errors.UnknownPortError(f"A {src.type} step has no '{port}' output.")
        if source == target:
            raise errors.SelfLoopError("A step cannot lead to itself.")
        if node_type(self._nodes[target].type).is_entry:
            raise errors.IntoStartError("Nothing can lead into the Start step.")
        if self.edge_on(source, port) is not None:
            raise errors.PortInUseError("This output is already connected; delete its edge first.")
        if self._reaches(target, source):
            raise errors.CycleError("This edge would make a loop; campaigns must always move forward.")

    def can_connect(self, source: str, port: str, target: str) -> bool:
        try:
            self.check_connect(source, port, target)
        except errors.FlowEditError:
            return False
        return True

    def add_edge(self, edge: Edge, check: bool = True, index: Optional[int] = None) -> None:
        """Add an edge; ``index`` puts it back at its old place (undo keeps file order)."""
        if check:
            self.check_connect(edge.source, edge.port, edge.target)
        if index is None:
            self._edges.append(edge)
        else:
            self._edges.insert(max(index, 0), edge)
        self.edge_added.emit(edge)
        self.changed.emit()

    def remove_edge(self, edge: Edge) -> None:
        self._edges.remove(edge)
        self.edge_removed.emit(edge)
        self.changed.emit()

    def set_setting(self, node_id: str, key: str, value: Any) -> None:
        """Set (or with None, remove) one logic setting; notifies only on change."""
        node = self._nodes[node_id]
        old = node.settings.get(key)
        if old == value and (value is not None or key not in node.settings):
            return
        if value is None:
            node.settings.pop(key, None)
        else:
            node.settings[key] = copy.deepcopy(value)
        self.setting_changed.emit(node, key, value)
        self.changed.emit()

    def set_extra(self, node_id: str, key: str, value: Any) -> None:
        """Set (or with None, remove) a non-logic field such as position or note."""
        node = self._nodes[node_id]
        if node.extra.get(key) == value and (value is not None or key not in node.extra):
            return
        if value is None:
            node.extra.pop(key, None)
        else:
            node.extra[key] = copy.deepcopy(value)
        self.extra_changed.emit(node, key, value)
        self.changed.emit()

    # -- helpers ---------------------------------------------------------
    def _reaches(self, start: str, goal: str) -> bool:
        seen, stack = {start}, [start]
        while stack:
            current = stack.pop()
            if current == goal:
                return True
            for e in self._edges:
                if e.source == current and e.target not in seen:
                    seen.add(e.target)
                    stack.append(e.target)
        return False

    @classmethod
    def build(cls, name: str, nodes: Iterable[Node], edges: Iterable[Edge]) -> Flow:
        """Make a flow without edit checks (a file may hold what validation reports)."""
        flow = cls(name)
        for n in nodes:
            flow._nodes[n.id] = n
        flow._edges = list(edges)
        return flow

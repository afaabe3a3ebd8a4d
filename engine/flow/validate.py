"""Validation: every code of SEMANTICS section 2, as findings a marketer can act on.

Graph questions go to networkx: loops are strongly connected components (so
every node of a loop is named), and "an email on every path to this
condition" is answered with the dominator tree and one reachability search,
never by enumerating paths, so flows full of diamonds stay fast. Template
parsing and link extraction are cached by text, so re-validating after one
edit only re-parses what changed.

Validation also stops what would crash a run later: waits longer than a year
or written as NaN or infinity, text that is not valid Unicode anywhere in the
flow (a lone UTF-16 surrogate, which no file, database or email can store),
numbers that are not finite, and templates that would build more than one
email can hold. Every message quotes the user's text through ``shown``, so
printing a finding never fails.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import networkx as nx

from engine.flow import campaign
from engine.flow.fields import unknown_fields
from engine.flow.model import Edge, Flow, Node
from engine.flow.text import bad_character, bad_text_sentence, shown
from engine.nodes.base import Role
from engine.nodes.graph import GraphFacts
from engine.nodes.registry import node_type
from engine.nodes.wording import label

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str
    node: Optional[str] = None
    edge: Optional[tuple[str, str, str]] = None  # (from, port, to)
    #: Every node the finding concerns (all nodes of a loop); for the canvas.
    nodes: tuple[str, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def as_json(self) -> dict:
        edge = None
        if self.edge is not None:
            edge = {"from": self.edge[0], "port": self.edge[1], "to": self.edge[2]}
        return {"code": self.code, "severity": self.severity, "node": self.node, "edge": edge,
                "message": self.message}


def has_errors(findings: list[Finding]) -> bool:
    return any(f.is_error for f in findings)


class _Validator:
    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.nodes = {n.id: n for n in flow.nodes}
        self.findings: list[Finding] = []
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from(self.nodes)
        self.port_edge: dict[tuple[str, str], Edge] = {}
        self.start: Optional[str] = None

    def add(self, code: str, severity: str, message: str, node: Optional[str] = None,
            edge: Optional[Edge] = None, nodes: tuple[str, ...] = ()) -> None:
        self.findings.append(Finding(code, severity, message, node, edge.key() if edge else None,
                                     nodes or ((node,) if node else ())))

    def run(self) -> list[Finding]:
        self.check_text()
        self.check_starts()
        self.check_edges()
        self.check_ports()
        self.check_settings()
        acyclic = self.check_cycles()
        reachable = self.check_reachable()
        if acyclic and self.start is not None:
            self.check_watched_emails(reachable)
            self.check_waits_on_yes_paths(reachable)
        return self.findings

    # -- structure -------------------------------------------------------
    def check_starts(self) -> None:
        starts = [n.id for n in self.nodes.values() if node_type(n.type).is_entry]
        if not starts:
            self.add("no-start", ERROR, "The flow has no Start step. Add one: it is where every lead enters.")
        elif len(starts) > 1:
            for node_id in starts:
                self.add("many-starts", ERROR,
                         f"The flow has {len(starts)} Start steps ({', '.join(starts)}); keep exactly one "
                         "and delete the others.", node_id)
        else:
            self.start = starts[0]

    def check_edges(self) -> None:
        for edge in self.flow.edges:
            source, target = self.nodes.get(edge.source), self.nodes.get(edge.target)
            if source is None:
                self.add("bad-edge", ERROR, f"An edge starts at “{shown(edge.source)}”, which is not a step "
                         "of this flow. Delete the edge.", edge=edge)
                continue
            if target is None:
                self.add("bad-edge", ERROR, f"An edge from {label(source)} leads to “{shown(edge.target)}”, "
                         "which is not a step of this flow. Delete the edge or reconnect it.",
                         source.id, edge)
                continue
            if edge.port not in source.ports:
                ports = ", ".join(source.ports) or "no outputs"
                self.add("bad-edge", ERROR, f"An edge leaves {label(source)} by “{shown(edge.port)}”, but a "
                         f"{source.type} step has {ports}. Reconnect it from a real output.", source.id, edge)
                continue
            if node_type(target.type).is_entry:
                self.add("bad-edge", ERROR, f"An edge from {label(source)} leads into the Start step; "
                         "nothing can lead into Start. Delete the edge.", source.id, edge)
                continue
            if (source.id, edge.port) in self.port_edge:
                self.add("bad-edge", ERROR, f"The {shown(edge.port.upper())} output of {label(source)} has "
                         "more than one edge; each output leads to exactly one step. Delete the extra "
                         "edge.", source.id, edge)
                continue
            self.port_edge[(source.id, edge.port)] = edge
            self.graph.add_edge(source.id, target.id)

    def check_ports(self) -> None:
        """Each node type says what its outputs need (``dead-end``, a condition's YES and NO)."""
        by_source: dict[str, dict[str, str]] = {}
        for (source, port), edge in self.port_edge.items():
            if edge.target in self.nodes:
                by_source.setdefault(source, {})[port] = edge.target
        for node in self.nodes.values():
            connected = by_source.get(node.id, {})
            for finding in node_type(node.type).port_findings(node, connected, self.flow):
                edge = self.port_edge.get((node.id, finding.port)) if finding.port else None
                self.add(finding.code, finding.severity, finding.message, node.id, edge)

    def check_text(self) -> None:
        """Every string valid Unicode and every number finite, wherever the flow holds it."""
        for where, problem in _odd_values(self.flow.name, "the campaign name"):
            self.add("bad-setting", ERROR, f"{where.capitalize()} {problem}.")
        for key, value in self.flow.extra.items():
            for where, problem in _odd_values(value, f"the flow field “{shown(key)}”", key):
                self.add("bad-setting", ERROR, f"{where.capitalize()} {problem}.")
        for node in self.nodes.values():
            for source in (node.settings, node.extra):
                for key, value in source.items():
                    if key == "duration":
                        continue  # check_settings explains a bad duration in its own words
                    if not isinstance(value, (str, float, dict, list, tuple)) and bad_character(key) is None:
                        continue  # ints, booleans and None hold nothing to report
                    if next(_odd_values(value, "", key), None) is None:
                        continue  # the common case: nothing to report, so no words to build
                    for where, problem in _odd_values(value, f"the {_field_word(node, key)} of {label(node)}", key):
                        self.add("bad-setting", ERROR, f"{where[0].upper()}{where[1:]} {problem}.", node.id)
        for edge in self.flow.edges:
            for key, value in edge.extra.items():
                where = f"the field “{shown(key)}” of the edge from “{shown(edge.source)}”"
                for spot, problem in _odd_values(value, where, key):
                    self.add("bad-setting", ERROR, f"{spot[0].upper()}{spot[1:]} {problem}.", edge=edge)

    def check_settings(self) -> None:
        for problem in campaign.problems(self.flow):
            self.add("bad-setting", ERROR, problem)
        for node in self.nodes.values():
            for problem in node_type(node.type).problems(node, self.flow):
                self.add("bad-setting", ERROR, problem, node.id)

    def check_cycles(self) -> bool:
        acyclic = True
        for component in nx.strongly_connected_components(self.graph):
            if len(component) == 1:
                only = next(iter(component))
                if not self.graph.has_edge(only, only):
                    continue
            acyclic = False
            sub = self.graph.subgraph(component)
            try:
                loop = [u for u, _ in nx.find_cycle(sub)]
            except nx.NetworkXNoCycle:  # pragma: no cover - an SCC always has one
                loop = sorted(component)
            rest = sorted(component - set(loop))
            order = loop + rest
            loop_text = " → ".join(shown(n) for n in order + [order[0]])
            self.add("cycle", ERROR, f"These steps form a loop: {loop_text}. A campaign must always move "
                     "forward; remove one of the edges that closes the loop.", order[0],
                     nodes=tuple(order))
        return acyclic

    def check_reachable(self) -> set[str]:
        if self.start is None:
            return set()
        reachable = nx.descendants(self.graph, self.start) | {self.start}
        for node_id in self.nodes:
            if node_id not in reachable:
                self.add("unreachable", WARNING, f"No path from Start reaches {label(self.nodes[node_id])}, "
                         "so no lead will ever get there. Connect it or delete it.", node_id)
        return reachable

    # -- checks that need the whole graph -------------------------------
    def check_watched_emails(self, reachable: set[str]) -> None:
        """Each reachable node's own graph checks (which email a condition watches)."""
        assert self.start is not None
        facts = GraphFacts(self.nodes, self.graph, self.start, reachable)
        for node_id in self.nodes:
            if node_id in reachable:
                node = self.nodes[node_id]
                for finding in node_type(node.type).graph_findings(node, facts):
                    self.add(finding.code, finding.severity, finding.message, node_id)

    def check_waits_on_yes_paths(self, reachable: set[str]) -> None:
        """Holds (waits, windows) that only tokens created by a YES trigger can
        reach (SEMANTICS 6, 10).

        Walk (node, tracked) states: start is tracked, a port whose role is the
        timeout makes a token tracked, one whose role is the event leads to a
        token that may be untracked, and any other port keeps the flag.
        """
        seen = {(self.start, True)}
        queue = deque(seen)
        while queue:
            node_id, tracked = queue.popleft()
            node = self.nodes[node_id]
            for port in node_type(node.type).ports(node):
                edge = self.port_edge.get((node_id, port.name))
                if edge is None or edge.target not in self.nodes:
                    continue
                state = True if port.role == Role.TIMEOUT else (False if port.role == Role.EVENT else tracked)
                key = (edge.target, state)
                if key not in seen:
                    seen.add(key)
                    queue.append(key)
        tracked_nodes = {n for n, t in seen if t}
        for node_id in reachable:
            node = self.nodes[node_id]
            if node_type(node.type).holds and node_id not in tracked_nodes:
                self.add("wait-on-yes-path", WARNING, f"{label(node).capitalize()} is only on YES paths. "
                         "Leads sent there by an event do not keep the campaign open, so the campaign "
                         f"may be complete before this {node.type} ends.", node_id)


def _field_word(node: Node, key: str) -> str:
    """How a message names a node's field: its setting's word, or the raw key."""
    setting = node_type(node.type).setting(key)
    return setting.noun if setting is not None else f"field “{shown(key)}”"


def _odd_values(value: Any, where: str, key: str = "") -> Iterator[tuple[str, str]]:
    """``(where, problem)`` for each string that is not valid Unicode and each number
    that is not finite inside ``value`` (lists and objects included; the file
    format bounds their depth)."""
    stack: list[tuple[Any, str]] = [(value, where)]
    if bad_character(key) is not None:
        yield where, "has a name with " + bad_text_sentence(key, bad_character(key) or 0)[len("holds "):]
    while stack:
        item, spot = stack.pop()
        if isinstance(item, str):
            position = bad_character(item)
            if position is not None:
                yield spot, bad_text_sentence(item, position)
        elif isinstance(item, float):
            if not math.isfinite(item):
                written = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
                yield spot, f"holds {written}, which is not a number; write a real number"
        elif isinstance(item, dict):
            for child_key, child in item.items():
                if isinstance(child_key, str) and bad_character(child_key) is not None:
                    yield spot, ("holds a field name with "
                                 + bad_text_sentence(child_key, bad_character(child_key) or 0)[len("holds "):])
                stack.append((child, spot))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, spot) for child in item)


def validate(flow: Flow, fields: Optional[Collection[str]] = None) -> list[Finding]:
    """All findings for the flow, errors and warnings, in a stable order.

    ``fields``: the lead list's columns, when known; a template field the list
    lacks is an ``unknown-field`` warning (``engine/flow/fields.py``)."""
    findings = _Validator(flow).run()
    from engine.delivery.identity import sender_findings  # the campaign's From, Reply-To, Return-Path

    findings += sender_findings(flow, Finding, ERROR)
    for node_id, word, name, close in unknown_fields(flow, fields) if fields is not None else ():
        hint = f" Did you mean {close}?" if close else " Add the column to the lead list or fix the name."
        findings.append(Finding("unknown-field", WARNING, f"The {word} of {label(flow.node(node_id))} uses "
                                f"{{{{ {name} }}}}, but the lead list has no “{shown(name)}” column, so it is "
                                f"never filled in.{hint}", node_id, None, (node_id,)))
    return findings

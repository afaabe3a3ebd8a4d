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

from engine.flow.body import FORMATS, body_html
from engine.flow.durations import (
    MAX_WAIT_SECONDS,
    DurationError,
    DurationTooLongError,
    format_duration,
    parse_duration,
)
from engine.flow.fields import unknown_fields
from engine.flow.links import link_urls
from engine.flow.model import EVENTS, MODES, Edge, Flow, Node
from engine.flow.templates import MAX_SUBJECT_CHARS, template_error
from engine.flow.text import bad_character, bad_text_sentence, shown

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


def label(node: Node) -> str:
    """How a message names a step: its type and id, with the subject for an email."""
    if node.type == "email" and isinstance(node.get("subject"), str) and node.get("subject"):
        return f"email “{shown(node.id)}” ({shown(node.get('subject'))})"
    return f"{node.type} “{shown(node.id)}”"


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
        starts = [n.id for n in self.nodes.values() if n.type == "start"]
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
            if target.type == "start":
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
        for node in self.nodes.values():
            if node.type == "condition":
                yes = self.port_edge.get((node.id, "yes"))
                no = self.port_edge.get((node.id, "no"))
                if yes is None:
                    self.add("missing-yes-path", ERROR, f"The YES output of {label(node)} leads nowhere. "
                             "Connect it to what should happen when the lead "
                             f"{'clicks' if node.get('event') == 'click' else 'opens'}.", node.id)
                if no is None:
                    self.add("missing-no-path", ERROR, f"{label(node).capitalize()} has no NO path. Connect "
                             "its NO output to a Wait: that wait is how long the condition waits for "
                             "the event.", node.id)
                elif self.nodes[no.target].type != "wait":
                    self.add("no-path-must-start-with-wait", ERROR, f"The NO path of {label(node)} starts "
                             f"with {label(self.nodes[no.target])}. Put a Wait first: it is how long the "
                             "condition waits for the event.", node.id, no)
                continue
            for port in node.ports:
                if (node.id, port) not in self.port_edge:
                    self.add("dead-end", ERROR, f"{label(node).capitalize()} leads nowhere. Connect it to "
                             "the next step, or to an End.", node.id)

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
                    for where, problem in _odd_values(value, f"the {_field_word(key)} of {label(node)}", key):
                        self.add("bad-setting", ERROR, f"{where[0].upper()}{where[1:]} {problem}.", node.id)
        for edge in self.flow.edges:
            for key, value in edge.extra.items():
                where = f"the field “{shown(key)}” of the edge from “{shown(edge.source)}”"
                for spot, problem in _odd_values(value, where, key):
                    self.add("bad-setting", ERROR, f"{spot[0].upper()}{spot[1:]} {problem}.", edge=edge)

    def check_settings(self) -> None:
        for node in self.nodes.values():
            for problem in _setting_problems(node, self.nodes):
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

    # -- which email a condition watches --------------------------------
    def check_watched_emails(self, reachable: set[str]) -> None:
        conditions = [n for n in self.nodes.values() if n.type == "condition" and n.id in reachable]
        if not conditions:
            return
        sub = self.graph.subgraph(reachable)
        # Conditions reachable from start along a path that passes no email.
        no_email = sub.subgraph([n for n in reachable if self.nodes[n].type != "email"])
        bare = nx.descendants(no_email, self.start) if self.start in no_email else set()
        idom = nx.immediate_dominators(sub, self.start)
        nearest = self._nearest_emails(sub)
        for cond in conditions:
            named = cond.get("email")
            watched: set[str]
            if named:
                if named not in self.nodes or self.nodes[named].type != "email":
                    continue  # reported as bad-setting
                if not _dominates(idom, named, cond.id):
                    self.add("no-email-before-condition", ERROR, f"{label(cond).capitalize()} watches "
                             f"{label(self.nodes[named])}, but some leads reach it without passing that "
                             "email. Watch an email that is on every path to it, or leave the choice on "
                             "“nearest”.", cond.id)
                    continue
                watched = {named}
            else:
                if cond.id in bare:
                    self.add("no-email-before-condition", ERROR, f"Some leads reach {label(cond)} without "
                             "having been sent any email, so there is nothing to watch. Put an Email "
                             "before it on every path.", cond.id)
                    continue
                watched = nearest[cond.id]
            if cond.get("event") == "click":
                self._check_links(cond, watched)

    def _nearest_emails(self, sub: nx.DiGraph) -> dict[str, set[str]]:
        """For each node, the emails that can be the nearest one before it on some path."""
        nearest: dict[str, set[str]] = {}
        for node_id in nx.topological_sort(sub):
            found: set[str] = set()
            for pred in sub.predecessors(node_id):
                if self.nodes[pred].type == "email":
                    found.add(pred)
                else:
                    found |= nearest[pred]
            nearest[node_id] = found
        return nearest

    def _check_links(self, cond: Node, watched: set[str]) -> None:
        url = cond.get("url")
        for email_id in sorted(watched):
            email = self.nodes[email_id]
            links = link_urls(body_html(email))
            if not links:
                self.add("click-without-links", ERROR, f"{label(cond).capitalize()} waits for a click in "
                         f"{label(email)}, which has no links. Add a link to the email or make this an "
                         "open condition.", cond.id)
            elif url and url not in links:
                self.add("click-without-links", ERROR, f"{label(cond).capitalize()} waits for a click on "
                         f"{shown(url)}, which is not a link in {label(email)}. Pick one of its links.", cond.id)

    def check_waits_on_yes_paths(self, reachable: set[str]) -> None:
        """Waits that only tokens created by a YES trigger can reach (SEMANTICS 6).

        Walk (node, tracked) states: start is tracked, a NO edge makes a token
        tracked, a YES edge leads to a token that may be untracked.
        """
        seen = {(self.start, True)}
        queue = deque(seen)
        while queue:
            node_id, tracked = queue.popleft()
            for port in self.nodes[node_id].ports:
                edge = self.port_edge.get((node_id, port))
                if edge is None:
                    continue
                state = True if port == "no" else (False if port == "yes" else tracked)
                key = (edge.target, state)
                if key not in seen:
                    seen.add(key)
                    queue.append(key)
        tracked_nodes = {n for n, t in seen if t}
        for node_id in reachable:
            node = self.nodes[node_id]
            if node.type == "wait" and node_id not in tracked_nodes:
                self.add("wait-on-yes-path", WARNING, f"{label(node).capitalize()} is only on YES paths. "
                         "Leads sent there by an event do not keep the campaign open, so the campaign "
                         "may be complete before this wait ends.", node_id)


def _dominates(idom: dict[str, str], dominator: str, node: str) -> bool:
    while True:
        if node == dominator:
            return True
        parent = idom.get(node)
        if parent is None or parent == node:
            return False
        node = parent


def _setting_problems(node: Node, nodes: dict[str, Node]) -> list[str]:
    problems: list[str] = []
    name = label(node)
    if node.type == "email":
        if node.get("format") is not None and node.get("format") not in FORMATS:
            problems.append(f"The body format of {name} is “{shown(node.get('format'))}”; choose “html” or "
                            "“markdown”.")
        for key, word in (("subject", "subject"), ("html", "body")):
            if not (node.get(key) or "").strip():
                problems.append(f"{name.capitalize()} has no {word}. Write one before running the campaign.")
        subject = node.get("subject")
        if isinstance(subject, str) and len(subject) > MAX_SUBJECT_CHARS:
            problems.append(f"The subject of {name} has {len(subject):,} characters; a subject holds at most "
                            f"{MAX_SUBJECT_CHARS}. Shorten it.")
        for key, word in (("subject", "subject"), ("html", "body"), ("text", "text body")):
            source = node.get(key)
            if source:
                error = template_error(source)
                if error:
                    problems.append(f"The {word} of {name} is a broken template ({error}). "
                                    "Fix the {{ }} and {% %} tags.")
    elif node.type == "wait":
        duration = node.get("duration")
        if duration is None:
            problems.append(f"{name.capitalize()} has no duration. Set one, such as 3d or 12h.")
        else:
            try:
                seconds = parse_duration(duration)
            except DurationTooLongError as exc:
                problems.append(f"The duration of {name} is not valid: {exc}; the longest wait is "
                                f"{MAX_WAIT_SECONDS // 86400} days.")
            except DurationError as exc:
                problems.append(f"The duration of {name} is not valid: {exc}.")
            else:
                if round(seconds * 1000) <= 0:
                    problems.append(f"{name.capitalize()} must wait longer than zero; set a duration such as 1d.")
                elif seconds > MAX_WAIT_SECONDS:
                    problems.append(f"{name.capitalize()} waits {format_duration(seconds)}, longer than the "
                                    f"longest wait of {MAX_WAIT_SECONDS // 86400} days; set a shorter duration.")
    elif node.type == "condition":
        event = node.get("event")
        if event not in EVENTS:
            if event is None:
                problems.append(f"{name.capitalize()} has no event. Choose “open” or “click”.")
            else:
                problems.append(f"{name.capitalize()} waits for an unknown event “{shown(event)}”. Choose “open” "
                                "or “click”.")
        if node.get("mode") is not None and node.get("mode") not in MODES:
            problems.append(f"{name.capitalize()} has an unknown mode “{shown(node.get('mode'))}”. Choose "
                            "“parallel” or “exclusive”.")
        named = node.get("email")
        if named and (named not in nodes or nodes[named].type != "email"):
            problems.append(f"{name.capitalize()} watches “{shown(named)}”, which is not an email of this flow. "
                            "Pick an email before it, or “nearest”.")
        if node.get("url") and event == "open":
            problems.append(f"{name.capitalize()} names a link, but only click conditions can. Remove the "
                            "link or make it a click condition.")
    return problems


_FIELD_WORDS = {"subject": "subject", "html": "body", "text": "text body", "sender": "sender", "url": "link",
                "event": "event", "email": "watched email", "mode": "mode", "leads": "lead list"}


def _field_word(key: str) -> str:
    return _FIELD_WORDS.get(key) or f"field “{shown(key)}”"


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

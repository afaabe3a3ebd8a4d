"""Split (A/B test): a token goes down one weighted branch at once, the same
branch for the same lead every time (SEMANTICS 10)."""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from engine.flow.text import shown
from engine.nodes.base import ANY_JSON, NodeType, Port, Role, Setting
from engine.nodes.registry import node_type, register
from engine.nodes.wording import label

MIN_BRANCHES, MAX_BRANCHES = 2, 5
#: "a short lower-case word": a letter, then letters, digits, - or _, 16 at most.
BRANCH_NAME = re.compile(r"[a-z][a-z0-9_-]{0,15}")


def _branches(node) -> list[dict]:
    value = node.get("branches")
    return [b for b in value if isinstance(b, dict)] if isinstance(value, list) else []


def _weight(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@dataclass(frozen=True)
class SplitSpec:
    ports: tuple[str, ...]
    #: Running totals of the weights, for a bisect.
    bounds: tuple[int, ...]
    salt: bytes


def choose(salt: bytes, lead_key: str, ports: tuple[str, ...], bounds: tuple[int, ...]) -> str:
    """The branch of one lead: a pure function of the lead's key, the node's id
    and the flow's name (in ``salt``), so it is stable across runs and restarts."""
    digest = hashlib.sha256(salt + lead_key.encode("utf-8", "surrogatepass")).digest()
    point = int.from_bytes(digest[:8], "big") % bounds[-1]
    return ports[bisect_right(bounds, point)]


class SplitType(NodeType):
    name = "split"
    title = "A/B split"
    description = "Sends each lead down one branch at random, by weight; the same lead always takes the same branch."
    id_prefix = "s"
    reads_lead = True
    palette_order = 40
    settings = (Setting("branches", "Branches", "branches", ANY_JSON,
                        default=[{"port": "a", "weight": 50}, {"port": "b", "weight": 50}],
                        help="2 to 5 branches, each a short lower-case name and a whole-number weight."),)
    figures = ("passed",)

    def ports(self, node) -> tuple[Port, ...]:
        seen: list[str] = []
        for branch in _branches(node):
            name = branch.get("port")
            if isinstance(name, str) and name and name not in seen:
                seen.append(name)
        return tuple(Port(n, Role.BRANCH, n.upper()) for n in seen)

    def summary(self, node, flow) -> str:
        branches = [(b.get("port"), _weight(b.get("weight"))) for b in _branches(node)]
        total = sum(w for _, w in branches if w) or 0
        if not branches or not total:
            return "Split (no valid branches)"
        return " / ".join(f"{str(p).upper()} {round(100 * w / total)}%" for p, w in branches if w)

    def problems(self, node, flow) -> list[str]:
        name = label(node)
        value = node.get("branches")
        if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
            return [f"The branches of {name} must be a list of {{\"port\": name, \"weight\": number}}."]
        problems: list[str] = []
        if not MIN_BRANCHES <= len(value) <= MAX_BRANCHES:
            problems.append(f"{name.capitalize()} has {len(value)} branches; a split has {MIN_BRANCHES} to "
                            f"{MAX_BRANCHES}.")
        names: list[str] = []
        for index, branch in enumerate(value, 1):
            port = branch.get("port")
            if not isinstance(port, str) or not BRANCH_NAME.fullmatch(port):
                problems.append(f"Branch {index} of {name} is named “{shown(port)}”; name it with a short "
                                "lower-case word, such as a, b or control.")
            elif port in names:
                problems.append(f"{name.capitalize()} has two branches named “{shown(port)}”; give each its own "
                                "name.")
            else:
                names.append(port)
            if _weight(branch.get("weight")) is None:
                problems.append(f"The weight of branch “{shown(port)}” of {name} is {shown(branch.get('weight'))}; "
                                "a weight is a whole number above zero.")
        return problems

    def extra_figures(self, node, flow, figures) -> dict:
        """Per branch: its leads, and the emails only that branch reaches, with their
        sends, opens and clicks, so variants can be compared side by side."""
        reach = {port: _below(flow, flow.target(node.id, port)) for port in self.port_names(node)}
        branches = {}
        for port, below in reach.items():
            others = set().union(*(r for p, r in reach.items() if p != port))
            emails = [n for n in below - others if n in figures and node_type(figures[n].type).sends]
            sent = sum(figures[e].sent for e in emails)
            opened = sum(figures[e].opened for e in emails)
            clicked = sum(figures[e].clicked for e in emails)
            branches[port] = {"leads": figures[node.id].ports.get(port, 0), "emails": sorted(emails),
                              "sent": sent, "opened": opened, "clicked": clicked,
                              "open_rate": opened / sent if sent else None,
                              "click_rate": clicked / sent if sent else None}
        return {"branches": branches}

    def compile(self, node, flow, options) -> SplitSpec:
        branches = [(b["port"], b["weight"]) for b in _branches(node)]
        return SplitSpec(ports=tuple(p for p, _ in branches), bounds=tuple(accumulate(w for _, w in branches)),
                         salt=f"{flow.name}\x00{node.id}\x00".encode("utf-8", "surrogatepass"))

    def enter(self, batch, token) -> bool:
        spec: SplitSpec = batch.spec.compiled[token.node]
        batch.move(token, choose(spec.salt, batch.lead(token.lead_id).key, spec.ports, spec.bounds))
        return True


def _below(flow, start) -> set[str]:
    """Every node reachable from ``start`` (itself included)."""
    if start is None:
        return set()
    seen, stack = {start}, [start]
    while stack:
        for edge in flow.out_edges(stack.pop()):
            if edge.target not in seen:
                seen.add(edge.target)
                stack.append(edge.target)
    return seen


SPLIT = register(SplitType())

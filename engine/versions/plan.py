"""What an edited flow changes, node by node, compared with the version running.

Pure: two flows in, a ``Plan`` out. Publishing and the impact preview both
act from it, so what the preview shows is what publishing does.

A node keeps its identity by id. A node whose id is gone, or whose type
changed, is *removed*: tokens standing on it need a new place. An email
whose subject or body changed is *content-changed*: it sends the new words
from now on and changes no one's path. A holding node (wait, window) whose
compiled timing changed is *re-timed*. Any other setting that changed makes
the node *changed* (its tokens go on under the new settings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from engine.flow.model import Flow
from engine.nodes.registry import node_type
from engine.run.spec import CampaignSpec

#: An email's settings that are what it says, not where leads go.
CONTENT = frozenset({"subject", "html", "text", "sender", "format"})


class PlanError(ValueError):
    """The edit cannot be published as asked (a bad mapping); the message says what to do."""


@dataclass
class Plan:
    old: Flow
    new: Flow
    old_spec: CampaignSpec
    new_spec: CampaignSpec
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    #: Holding nodes (waits, windows) whose timing changed.
    retimed: list[str] = field(default_factory=list)
    #: Conditions whose settings changed (they listen with the new ones) or that were removed.
    conditions: list[str] = field(default_factory=list)
    #: Removed node -> node of the new version its tokens go to; absent: they finish.
    mapping: dict[str, str] = field(default_factory=dict)
    #: Nodes whose outgoing edges now lead elsewhere.
    rewired: list[str] = field(default_factory=list)
    #: Flow-level logic (name, time zone, goal, sender) changed.
    flow_changed: bool = False

    def status(self, node: str) -> str:
        """How one node fares: removed, added, changed, re-timed, content, rewired or same."""
        for kind, nodes in (("removed", self.removed), ("added", self.added), ("re-timed", self.retimed),
                            ("changed", self.changed), ("content", self.content), ("rewired", self.rewired)):
            if node in nodes:
                return kind
        return "same"

    @property
    def anything(self) -> bool:
        return bool(self.removed or self.added or self.content or self.changed or self.retimed or self.rewired
                    or self.flow_changed)

    def target(self, node: str) -> Optional[str]:
        """Where tokens standing on a removed node go (None: they finish)."""
        return self.mapping.get(node)


def make_plan(old: Flow, new: Flow, mapping: Optional[dict[str, str]] = None, mode: Optional[str] = None) -> Plan:
    """Compare ``new`` with ``old``; ``mapping`` says where each removed node's tokens go
    (a node id of ``new``, or ``finish``, the default)."""
    plan = Plan(old, new, CampaignSpec(old, mode), CampaignSpec(new, mode))
    new_nodes = {n.id: n for n in new.nodes}
    for node in old.nodes:
        twin = new_nodes.get(node.id)
        if twin is None or twin.type != node.type:
            plan.removed.append(node.id)
            continue
        if node.type == "condition" and (node.settings != twin.settings
                                         or _compiled(plan, node.id) is not None):
            plan.conditions.append(node.id)
        if node_type(node.type).holds:
            if _compiled(plan, node.id) is not None:  # "1d" rewritten as "24h" changes nothing
                plan.retimed.append(node.id)
        elif node.settings != twin.settings:
            logic = {k: v for k, v in node.settings.items() if k not in CONTENT}
            twin_logic = {k: v for k, v in twin.settings.items() if k not in CONTENT}
            if node.type == "email" and logic == twin_logic:
                plan.content.append(node.id)
            else:
                plan.changed.append(node.id)
        if _targets(old, node.id) != _targets(new, node.id):
            plan.rewired.append(node.id)
    old_ids = {n.id for n in old.nodes}
    plan.added = [n.id for n in new.nodes if n.id not in old_ids]
    plan.conditions += [n for n in plan.removed if old.find_node(n).type == "condition"]
    plan.flow_changed = old.name != new.name or _logic_extra(old) != _logic_extra(new)
    for source, target in (mapping or {}).items():
        if source not in plan.removed:
            raise PlanError(f"“{source}” is not a node this version removes; only tokens on removed nodes "
                            "are moved.")
        if target == "finish":
            continue
        if target not in new_nodes:
            raise PlanError(f"“{target}” is not a node of the new version; map “{source}” to one of its nodes "
                            "or to 'finish'.")
        if node_type(new_nodes[target].type).is_entry:
            raise PlanError(f"Tokens cannot be moved to the start node “{target}”; pick a later node or 'finish'.")
        plan.mapping[source] = target
    return plan


def _compiled(plan: Plan, node: str) -> Any:
    """The node's compiled timing when it differs between the versions, else None."""
    before, after = plan.old_spec.compiled.get(node), plan.new_spec.compiled.get(node)
    return after if before != after else None


def _targets(flow: Flow, node: str) -> dict[str, str]:
    return {e.port: e.target for e in flow.out_edges(node)}


def _logic_extra(flow: Flow) -> dict[str, Any]:
    return {k: flow.extra.get(k) for k in ("timezone", "goal", "sender")}

"""How a field check looks: sky blue, YES above NO, "country is FR?" as the caption."""

from __future__ import annotations

from editor.node_views.base import NodeView, register_view
from engine.nodes.check import UNARY


class CheckView(NodeView):
    name = "check"
    color = "#0086C9"
    choice_labels = {"op": {"equals": "is", "not-equals": "is not", "contains": "contains",
                            "exists": "is set (not empty)", "missing": "is empty", "greater": "is greater than",
                            "less": "is less than", "in": "is one of (comma separated)"}}
    visible_when = {"value": lambda node: node.get("op") not in UNARY}
    hint = ("Leads go down YES or NO at once by their row in the lead list; text is compared without regard "
            "to case. The NO path needs no wait.")

    def caption(self, flow, node, preds=None) -> tuple[str, str, str]:
        text = self.kind.summary(node, flow)
        return ("", "Choose a field to check", "") if text.startswith("Check (") else (text, "", "")


CHECK = register_view(CheckView())

"""How an A/B split looks: magenta, one coloured port per branch (A, B, C...),
"A 50% / B 50%" as the caption, the branch table as its page."""

from __future__ import annotations

from editor.node_views.base import NodeView, register_view


class SplitView(NodeView):
    name = "split"
    color = "#DD2590"
    hint = ("Each lead takes one branch, chosen by weight, and always the same one: the choice depends on the "
            "lead, this step and the campaign's name.")

    def caption(self, flow, node, preds=None) -> tuple[str, str, str]:
        text = self.kind.summary(node, flow)
        return ("", text, "") if text.startswith("Split (") else (text, "", "")


SPLIT = register_view(SplitView())

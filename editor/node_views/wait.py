"""How a Wait looks: amber, "Wait 2 days" as the caption."""

from __future__ import annotations

from editor.node_views.base import NodeView, register_view
from editor.summary import duration_words


class WaitView(NodeView):
    name = "wait"
    color = "#CA8504"

    def caption(self, flow, node, preds=None) -> tuple[str, str, str]:
        value = node.get("duration")
        words = duration_words(value) if value is not None else None
        if words:
            return ("Wait ", words, "")
        return ("", "Set a duration", "") if value is None else ("Wait ", str(value), "?")


WAIT = register_view(WaitView())

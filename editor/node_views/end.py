"""How an End looks: slate, narrower, no outputs."""

from __future__ import annotations

from editor import style
from editor.node_views.base import NodeView, register_view


class EndView(NodeView):
    name = "end"
    color = "#475467"
    width = float(style.END_WIDTH)
    hint = "Leads that reach this step are done with the campaign."

    def caption(self, flow, node, preds=None) -> tuple[str, str, str]:
        return ("Done", "", "")


END = register_view(EndView())

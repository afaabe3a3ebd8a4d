"""How a Start looks: teal, no input, "Every lead enters here" or its lead lists."""

from __future__ import annotations

from editor.node_views.base import NodeView, register_view


class StartView(NodeView):
    name = "start"
    color = "#0E9384"
    has_input = False
    setting_labels = {"leads": "Lead lists (comma separated)"}
    placeholders = {"leads": "Empty: every lead of the campaign's list"}
    hint = "Leads enter here with the campaign's lead list, or only the lists named above."

    def caption(self, flow, node, preds=None) -> tuple[str, str, str]:
        leads = node.get("leads") or []
        return ("Leads: ", ", ".join(map(str, leads)), "") if leads else ("Every lead enters here", "", "")


START = register_view(StartView())

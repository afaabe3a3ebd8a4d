"""How a send window looks: olive, "Mon–Fri 09:00–17:00 (Europe/Paris)" as the caption."""

from __future__ import annotations

from editor.node_views.base import NodeView, register_view


class WindowView(NodeView):
    name = "window"
    color = "#669F2A"
    hint = ("Leads arriving inside the window go on at once; the others wait here until it next opens, in "
            "their local time.")

    def caption(self, flow, node, preds=None) -> tuple[str, str, str]:
        text = self.kind.summary(node, flow)
        return ("", "Choose days and hours", "") if text.startswith("Window (") else (text, "", "")

    def caption_depends_on_graph(self) -> bool:
        return True  # it names the campaign's time zone, set on the campaign page


WINDOW = register_view(WindowView())

"""How a Condition looks: violet, YES above NO, "Opened <email>?" as the caption."""

from __future__ import annotations

from editor.node_views.base import NodeView, register_view
from editor.summary import email_label, link_choices, watched_emails


class ConditionView(NodeView):
    name = "condition"
    color = "#7A5AF8"
    choice_labels = {"event": {"open": "Opened the email", "click": "Clicked a link"},
                     "mode": {"parallel": "Parallel: the NO path carries on",
                              "exclusive": "Exclusive: move the lead to YES"}}
    setting_labels = {"email": "Watched email", "mode": "When the event comes during the wait"}
    visible_when = {"url": lambda node: node.get("event") == "click"}
    hint = "The first step of the NO path must be a Wait: it is how long the condition waits for the event."

    def caption(self, flow, node, preds=None) -> tuple[str, str, str]:
        event = node.get("event")
        if event not in ("open", "click"):
            return ("", "Choose open or click", "")
        watched = watched_emails(flow, node, preds)
        what = email_label(flow, watched[0]) if len(watched) == 1 else ("the email before" if not watched
                                                                          else "the last email")
        if event == "open":
            return ("Opened ", what, "?")
        url = node.get("url")
        if url:
            return ("Clicked ", dict(link_choices(flow, node, preds)).get(url) or url, "?")
        return ("Clicked ", what, "?")

    def caption_depends_on_graph(self) -> bool:
        return True  # the watched email is the nearest one before it


CONDITION = register_view(ConditionView())

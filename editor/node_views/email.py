"""How an Email looks: blue, its subject as the caption, the preview page."""

from __future__ import annotations

from editor.node_views.base import NodeView, register_view
from editor.summary import readable_template


class EmailView(NodeView):
    name = "email"
    color = "#2E6BE6"

    def caption(self, flow, node, preds=None) -> tuple[str, str, str]:
        subject = readable_template(node.get("subject") or "")
        return (subject, "", "") if subject else ("", "No subject yet", "")

    def build_page(self, host):  # noqa: ANN201
        from editor.node_views.email_page import EmailPage
        return EmailPage(self, host)


EMAIL = register_view(EmailView())

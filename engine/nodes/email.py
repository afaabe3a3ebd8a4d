"""Email: sends once per lead and node, then the token stands on the node
until its send is settled (SEMANTICS 4, 9, 12)."""

from __future__ import annotations

from engine.flow.body import FORMATS
from engine.flow.template_limits import MAX_SUBJECT_CHARS
from engine.flow.templates import template_error
from engine.flow.text import shown
from engine.nodes.base import NodeType, Setting
from engine.nodes.registry import register
from engine.nodes.wording import label

#: The templates of an email, with the word a message uses for each.
TEMPLATES = (("subject", "subject"), ("html", "body"), ("text", "text body"))


class EmailType(NodeType):
    name = "email"
    title = "Email"
    description = "Sends one email to the lead (once per campaign, however many paths lead here)."
    id_prefix = "e"
    sends = True
    palette_order = 10
    settings = (
        Setting("subject", "Subject", "template", default="New email"),
        Setting("html", "Body", "html", default="<p>Hello {{ first_name }},</p>", word="body"),
        Setting("text", "Text body", "template", word="text body"),
        Setting("sender", "Sender", "text"),
        Setting("format", "Body format", "choice", choices=FORMATS, word="body format"),
    )
    figures = ("sent", "queued", "send_failed", "skipped", "opened", "clicked")

    def summary(self, node, flow) -> str:
        return str(node.get("subject") or "")

    def problems(self, node, flow) -> list[str]:
        problems: list[str] = []
        name = label(node)
        if node.get("format") is not None and node.get("format") not in FORMATS:
            problems.append(f"The body format of {name} is “{shown(node.get('format'))}”; choose “html” or "
                            "“markdown”.")
        for key, word in (("subject", "subject"), ("html", "body")):
            if not (node.get(key) or "").strip():
                problems.append(f"{name.capitalize()} has no {word}. Write one before running the campaign.")
        subject = node.get("subject")
        if isinstance(subject, str) and len(subject) > MAX_SUBJECT_CHARS:
            problems.append(f"The subject of {name} has {len(subject):,} characters; a subject holds at most "
                            f"{MAX_SUBJECT_CHARS}. Shorten it.")
        for key, word in TEMPLATES:
            source = node.get(key)
            if source:
                error = template_error(source)
                if error:
                    problems.append(f"The {word} of {name} is a broken template ({error}). "
                                    "Fix the {{ }} and {% %} tags.")
        return problems

    def enter(self, batch, token) -> bool:
        """Send once per lead and node; a token arriving again records a skip and
        watches the earlier send from here on (SEMANTICS 4). A suppressed address
        gets nothing: the token skips with the reason (SEMANTICS 12). Otherwise
        the token stands here until its send is settled (SEMANTICS 9)."""
        if batch.is_unsubscribed(token.lead_id):
            batch.finish(token)
            return False
        reason = batch.suppression_of(token.lead_id)
        if reason is not None:
            batch.record_skip(token, None, reason)
            token.last_send = None  # nothing was sent: a condition after it has nothing to see
            batch.move(token, "next")
            return True
        send = batch.send_of(token.lead_id, token.node)
        if send is not None:
            batch.record_skip(token, send, "already-sent")
            token.path = {**token.path, token.node: send.id}
            token.last_send = send.id
            batch.move(token, "next")
            return True
        send = batch.create_send(token)
        token.path = {**token.path, token.node: send.id}
        token.last_send = send.id
        if batch.delivers_at_once():
            batch.move(token, "next")
            return True
        batch.await_delivery(token, send)
        return False

    def resume(self, batch, token) -> None:
        """The token's send was settled: it walks on from the delivered instant,
        or, when it was not sent after all (suppressed at the last moment), from now."""
        send = batch.sends.get(token.last_send) if token.last_send is not None else None
        if send is not None and send.status != "cancelled":
            batch.mark_delivered(send)
        batch.move(token, "next")


EMAIL = register(EmailType())

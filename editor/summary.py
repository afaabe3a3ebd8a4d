"""What a node shows at a glance, and the choices the inspector offers.

Pure functions of the flow (each type's caption is its view descriptor's, in
``editor/node_views``): the canvas items and the inspector call them
whenever they repaint or refresh, so neither keeps a copy of any setting.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Optional

from engine.flow.body import body_html
from engine.flow.durations import DurationError, parse_duration
from engine.flow.links import extract_links
from engine.flow.model import Flow, Node
from engine.nodes.registry import node_type

_TAG = re.compile(r"\{\{\s*(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)[^}]*\}\}")
#: What is left of template syntax after the fields: statements, comments, odd expressions.
_SYNTAX = re.compile(r"\{%.*?%\}|\{#.*?#\}|\{\{.*?\}\}", re.S)
_UNIT_WORDS = (("d", 86400, "day"), ("h", 3600, "hour"), ("m", 60, "minute"), ("s", 1, "second"))


def readable_template(text: str) -> str:
    """``Hi {{ first_name | default("x") }}`` reads as ``Hi ‹first_name›`` on the canvas.

    No template syntax is left: ``{% if %}`` blocks and comments are dropped,
    ``{{ lead.first_name }}`` shows its field name, and anything else in
    ``{{ }}`` becomes ``‹…›``.
    """
    named = _TAG.sub(lambda m: f"‹{m.group(1)}›", text or "")
    return " ".join(_SYNTAX.sub(lambda m: "‹…›" if m.group(0).startswith("{{") else " ", named).split())


def step_name(flow: Flow, node_id: str) -> str:
    """A step as the marketer knows it: an email by its subject, a condition by its question.

    Used wherever a run shows steps (timelines, reports), instead of ids.
    """
    node = flow.find_node(node_id)
    if node is None:
        return node_id
    kind = node_type(node.type)
    if kind.sends:
        subject = readable_template(node.get("subject") or "")
        return f"“{subject}”" if subject else f"{title(node)} {node_id}"
    if kind.is_entry or kind.is_exit:
        return f"{title(node)} ({node_id})"
    text = summary_text(flow, node)
    return text or f"{title(node)} {node_id}"


def duration_words(value: object) -> Optional[str]:
    """``3d`` -> ``3 days``; ``1d12h`` -> ``1 day 12 hours``; None if unreadable."""
    try:
        seconds = parse_duration(value)
    except DurationError:
        return None
    if seconds <= 0:
        return None
    parts = []
    rest = seconds
    for _unit, size, word in _UNIT_WORDS:
        count = int(rest // size)
        if count:
            parts.append(f"{count} {word}{'s' if count != 1 else ''}")
            rest -= count * size
    if rest > 1e-9 or not parts:
        parts.append(f"{rest:g} seconds")
    return " ".join(parts)


def predecessors_map(flow: Flow) -> dict[str, list[str]]:
    preds: dict[str, list[str]] = {n.id: [] for n in flow.nodes}
    for edge in flow.edges:
        if edge.target in preds:
            preds[edge.target].append(edge.source)
    return preds


def emails_before(flow: Flow, node_id: str, preds: Optional[dict[str, list[str]]] = None) -> list[str]:
    """Emails on some path into ``node_id``, nearest first: what a condition may watch."""
    preds = preds if preds is not None else predecessors_map(flow)
    seen = {node_id}
    queue = deque([node_id])
    found: list[str] = []
    while queue:
        current = queue.popleft()
        for pred in preds.get(current, ()):
            if pred in seen:
                continue
            seen.add(pred)
            node = flow.find_node(pred)
            if node is not None and node_type(node.type).sends:
                found.append(pred)
            queue.append(pred)
    return found


def nearest_emails(flow: Flow, node_id: str, preds: Optional[dict[str, list[str]]] = None) -> list[str]:
    """The emails that can be the nearest one before ``node_id`` on some path."""
    preds = preds if preds is not None else predecessors_map(flow)
    seen = {node_id}
    stack = [node_id]
    found: list[str] = []
    while stack:
        current = stack.pop()
        for pred in preds.get(current, ()):
            if pred in seen:
                continue
            seen.add(pred)
            node = flow.find_node(pred)
            if node is None:
                continue
            if node_type(node.type).sends:
                found.append(pred)
            else:
                stack.append(pred)
    return found


def watched_emails(flow: Flow, cond: Node, preds: Optional[dict[str, list[str]]] = None) -> list[str]:
    """The email(s) a condition watches: the one it names, else the nearest ones."""
    named = cond.get("email")
    if named:
        node = flow.find_node(named)
        return [named] if node is not None and node_type(node.type).sends else []
    return nearest_emails(flow, cond.id, preds)


def link_choices(flow: Flow, cond: Node, preds: Optional[dict[str, list[str]]] = None) -> list[tuple[str, str]]:
    """``(url, text)`` of the links in the watched email(s), for a click condition."""
    seen: dict[str, str] = {}
    for email_id in watched_emails(flow, cond, preds):
        for url, text in extract_links(body_html(flow.node(email_id))):  # Markdown bodies too
            seen.setdefault(url, text)
    return list(seen.items())


def email_label(flow: Flow, email_id: str) -> str:
    node = flow.find_node(email_id)
    if node is None:
        return email_id
    subject = readable_template(node.get("subject") or "")
    return subject or f"email {email_id}"


def title(node: Node) -> str:
    """The type's name as the marketer knows it ("Email", "A/B split")."""
    from editor.node_views import view_for
    return view_for(node.type).title


def summary(flow: Flow, node: Node, preds: Optional[dict[str, list[str]]] = None) -> tuple[str, str, str]:
    """The key setting as ``(before, emphasised, after)``: ``("Opened ", "Welcome", "?")``,
    as the type's view descriptor words it."""
    from editor.node_views import view_for
    return view_for(node.type).caption(flow, node, preds)


def summary_text(flow: Flow, node: Node) -> str:
    before, emphasis, after = summary(flow, node)
    return f"{before}{emphasis}{after}"

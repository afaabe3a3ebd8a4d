"""How messages name a step: shared by validation and every node type's checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.flow.text import shown

if TYPE_CHECKING:
    from engine.flow.model import Node


def label(node: Node) -> str:
    """A step's type and id, with the subject for an email: email “e1” (Hi)."""
    from engine.nodes.registry import node_type

    subject = node.get("subject")
    if node_type(node.type).sends and isinstance(subject, str) and subject:
        return f"email “{shown(node.id)}” ({shown(subject)})"
    return f"{node.type} “{shown(node.id)}”"

"""End: a token that reaches it has finished."""

from __future__ import annotations

from engine.nodes.base import NodeType
from engine.nodes.registry import register


class EndType(NodeType):
    name = "end"
    title = "End"
    description = "The lead's path through the campaign ends here."
    id_prefix = "end"
    is_exit = True
    fixed_ports = ()
    palette_order = 90
    figures = ("finished", "failed")

    def summary(self, node, flow) -> str:
        return ""

    def enter(self, batch, token) -> bool:
        batch.finish(token)
        return False


END = register(EndType())

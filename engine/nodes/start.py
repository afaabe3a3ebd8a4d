"""Start: where every lead enters, with its original token (SEMANTICS 4)."""

from __future__ import annotations

from engine.nodes.base import NodeType, Setting
from engine.nodes.registry import register


class StartType(NodeType):
    """Enrolment gives each lead's original token a due hold on start (a wait row
    due at once), so entering is played in time order like any other hold, and
    a crash between enrolment and the first step loses nothing. When that hold
    ends, the token moves on by ``next`` (the base ``resume``)."""

    name = "start"
    title = "Start"
    description = "Where every lead of the list enters the campaign."
    id_prefix = "start"
    is_entry = True
    palette_order = 0
    settings = (Setting("leads", "Lead list", "leads", (list,), word="lead list"),)
    figures = ("passed",)

    def summary(self, node, flow) -> str:
        return "Every lead of the list enters here"


START = register(StartType())

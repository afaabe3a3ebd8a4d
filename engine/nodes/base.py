"""What a node type is: one descriptor that every part of the product asks.

After orange-canvas-core's ``WidgetDescription``: a plain, Qt-free
description of a node type (its settings and their defaults, its output
ports and what each port means, how it is checked, what it does to a token,
how it reads in one line, which figures it shows). The flow reader,
validation, the engine, the simulator and the report ask the registry
(``engine/nodes/registry.py``) for the descriptor of a node's type; none of
them names a type. The editor has its own descriptor per type for how it
looks (``editor/node_views/``), built from the settings declared here.

A descriptor is stateless: everything a run needs from a node's settings is
compiled once per campaign (``compile``) into a small frozen object that the
handlers read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from engine.flow.model import Flow, Node
    from engine.nodes.graph import GraphFacts
    from engine.run.batch import Batch
    from engine.run.state import TokenState


class Role:
    """What leaving a node by a port means, independent of the port's name."""

    #: The token simply goes on (``next``).
    CONTINUES = "continues"
    #: The watched event happened (a condition's YES): the token that takes it
    #: may be one a trigger created, so it may be untracked (SEMANTICS 6).
    EVENT = "event"
    #: The event did not happen in time (a condition's NO): a token that takes
    #: it is tracked, and the path starts with the wait that is the timeout.
    TIMEOUT = "timeout"
    #: One of several branches chosen at once (a split's branch, a check's
    #: yes/no): the token keeps its tracked flag.
    BRANCH = "branch"


@dataclass(frozen=True)
class Port:
    name: str
    role: str
    #: How the canvas and messages name it (``YES``, ``A``, ``next``).
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name.upper()


@dataclass(frozen=True)
class Setting:
    """One logic field of a node, as the file, the inspector and validation see it.

    ``kind`` tells the editor which control to build (``text``, ``template``,
    ``html``, ``duration``, ``choice``, ``email``, ``link``, ``flag``,
    ``branches``, ``days``, ``time``, ``timezone``, ``field``, ``value``,
    ``leads``); ``accepts`` are the JSON types the flow reader lets through
    (anything else is a file error); finer checks are the type's ``problems``.
    """

    key: str
    label: str
    kind: str
    accepts: tuple[type, ...] = (str,)
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""
    #: The word a validation message uses for this field ("body", "link"...).
    word: str = ""

    @property
    def noun(self) -> str:
        return self.word or self.label.lower()


#: Any JSON value: the reader lets it through and validation explains what is wrong.
ANY_JSON: tuple[type, ...] = (str, int, float, list, dict, bool)


@dataclass(frozen=True)
class Finding:
    """A structural finding a node type reports about itself (code, severity, sentence)."""

    code: str
    severity: str
    message: str
    #: An edge the finding is about, as (port) of this node, if any.
    port: Optional[str] = None


class NodeType:
    """The base descriptor. Subclasses set the class attributes and override what differs."""

    #: The ``type`` in the flow file.
    name: str = ""
    #: How the marketer calls it ("Email", "A/B split").
    title: str = ""
    #: One sentence for the palette's tooltip and the docs.
    description: str = ""
    #: Prefix of new ids (``e`` -> ``e4``).
    id_prefix: str = "n"
    settings: tuple[Setting, ...] = ()
    #: Output ports when they do not depend on the node's settings.
    fixed_ports: tuple[Port, ...] = (Port("next", Role.CONTINUES, "next"),)
    #: Holds a token for a while (a wait, a window): a tracked token held here
    #: keeps the campaign open, so one that only YES paths reach is worth a
    #: warning (``wait-on-yes-path``).
    holds: bool = False
    #: Sends an email that conditions can watch.
    sends: bool = False
    #: Is where every lead enters (exactly one per flow).
    is_entry: bool = False
    #: Is where tokens finish.
    is_exit: bool = False
    #: Needs the lead's key and fields while running (checks, windows, splits).
    reads_lead: bool = False
    #: Order in the palette.
    palette_order: int = 100
    #: The figures of ``NodeFigures`` this type shows on the canvas and in reports.
    figures: tuple[str, ...] = ("passed",)

    # -- the document ----------------------------------------------------
    def ports(self, node: Node) -> tuple[Port, ...]:
        return self.fixed_ports

    def port_names(self, node: Node) -> tuple[str, ...]:
        return tuple(p.name for p in self.ports(node))

    def port(self, node: Node, name: str) -> Optional[Port]:
        return next((p for p in self.ports(node) if p.name == name), None)

    def setting(self, key: str) -> Optional[Setting]:
        return next((s for s in self.settings if s.key == key), None)

    def accepted(self) -> dict[str, tuple[type, ...]]:
        """Setting key -> JSON types the reader accepts."""
        return {s.key: s.accepts for s in self.settings}

    def defaults(self) -> dict[str, Any]:
        """The settings of a freshly dropped node."""
        return {s.key: s.default for s in self.settings if s.default is not None}

    def example(self) -> dict[str, Any]:
        """Settings of a complete, valid node of this type (docs, tests, the
        registry walk); the defaults, unless they leave something to choose."""
        return self.defaults()

    def summary(self, node: Node, flow: Flow) -> str:
        """One line for the canvas (pure: called on every repaint)."""
        return ""

    # -- validation ------------------------------------------------------
    def problems(self, node: Node, flow: Flow) -> list[str]:
        """``bad-setting`` sentences about this node's own settings."""
        return []

    def port_findings(self, node: Node, connected: dict[str, str], flow: Flow) -> Iterator[Finding]:
        """Findings about this node's outputs; ``connected`` maps port -> target id.

        By default every port needs an edge (``dead-end``)."""
        from engine.nodes.wording import label
        for port in self.ports(node):
            if port.name not in connected:
                where = "leads nowhere" if len(self.ports(node)) == 1 else f"has no edge on its {port.title} output"
                yield Finding("dead-end", "error", f"{label(node).capitalize()} {where}. Connect it to the "
                              "next step, or to an End.")

    def graph_findings(self, node: Node, facts: GraphFacts) -> Iterator[Finding]:
        """Findings that need the whole graph (which email a condition watches)."""
        return iter(())

    def extra_figures(self, node: Node, flow: Flow, figures: Mapping[str, Any]) -> dict[str, Any]:
        """Figures this type adds to its node's report line, computed from every
        node's ``NodeFigures`` (``figures``, by node id)."""
        return {}

    # -- running ---------------------------------------------------------
    def compile(self, node: Node, flow: Flow, options: Mapping[str, Any]) -> Any:
        """What the handlers need of this node, computed once per campaign
        (``options``: the run's overrides, such as ``mode``)."""
        return None

    def enter(self, batch: Batch, token: TokenState) -> bool:
        """A token arrives: do the node's work. True: the token was moved on and
        walks further; False: it stays (held, finished or failed)."""
        batch.move(token, "next")
        return True

    def resume(self, batch: Batch, token: TokenState) -> None:
        """A hold on this node ended (its wait row fired, or its send settled):
        move the token on before it walks further."""
        batch.move(token, "next")


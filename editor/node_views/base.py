"""How a node type looks in the editor: one view descriptor per type.

After orange-canvas-core's split between a widget's description and its
view: ``engine/nodes`` says what a type *is* (settings, ports with roles,
checks); a ``NodeView`` here says how it *looks* (colour, icon, size, where
its output ports sit, how each port is drawn, what its caption reads, which
inspector page edits it). The palette, canvas items, interactions and the
inspector ask ``view_for(type)``; none of them names a type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from PySide6.QtGui import QColor

from editor import style
from engine.nodes.base import Port, Role
from engine.nodes.registry import node_type

if TYPE_CHECKING:
    from engine.flow.model import Flow, Node

#: Vertical room one output port needs, so any number of them never overlap.
PORT_SPACING = 24.0
#: Colours of branch ports in order (a split's A, B, C...), then of the fixed roles.
BRANCH_COLORS = ("#2E90FA", "#DD2590", "#12B76A", "#F79009", "#7A5AF8")
ROLE_COLORS = {Role.CONTINUES: "#98A2B3", Role.EVENT: "#16A34A", Role.TIMEOUT: "#E8590C"}
#: A check's YES and NO read as the condition's: green and orange.
NAMED_COLORS = {"yes": "#16A34A", "no": "#E8590C"}


class NodeView:
    """The base view. Subclasses set ``name`` and ``color`` and override what differs."""

    #: The engine type this view draws (``NodeType.name``).
    name: str = ""
    color: str = "#98A2B3"
    #: The SVG in ``resources/icons`` (default: ``<name>.svg``).
    icon_name: str = ""
    width: float = float(style.NODE_WIDTH)
    #: Whether a node has an input (start has none).
    has_input: bool = True
    #: Labels for a ``choice`` setting's values, by setting key (value -> words).
    choice_labels: dict[str, dict[str, str]] = {}
    #: A setting's control is shown only where this says so (key -> test of the node).
    visible_when: dict[str, Callable[[Node], bool]] = {}
    #: The inspector's words for a setting, where the engine's label is too terse (key -> label).
    setting_labels: dict[str, str] = {}
    #: What an empty control says (key -> placeholder); default: the setting's default or help.
    placeholders: dict[str, str] = {}
    #: A sentence under the settings (what the marketer should know).
    hint: str = ""

    # -- the engine's description ---------------------------------------
    @property
    def kind(self):  # noqa: ANN201 - the engine's NodeType
        return node_type(self.name)

    @property
    def title(self) -> str:
        return self.kind.title or self.name.title()

    @property
    def icon(self) -> str:
        return self.icon_name or self.name

    def qcolor(self) -> QColor:
        return QColor(self.color)

    # -- geometry -------------------------------------------------------
    def ports(self, node: Node) -> tuple[Port, ...]:
        return self.kind.ports(node)

    def height(self, node: Node) -> float:
        """Tall enough for every output port at ``PORT_SPACING`` apart."""
        count = len(self.ports(node))
        return max(float(style.NODE_HEIGHT), count * PORT_SPACING + 8)

    def port_offsets(self, node: Node) -> dict[str, float]:
        """Each port's height on the right edge, spread evenly (one port: the middle)."""
        ports = self.ports(node)
        height = self.height(node)
        if len(ports) == 1:
            return {ports[0].name: height / 2}
        step = min(PORT_SPACING * 1.4, (height - 8) / max(len(ports), 1))
        top = (height - step * (len(ports) - 1)) / 2
        return {p.name: top + i * step for i, p in enumerate(ports)}

    def port_color(self, node: Node, port: str) -> QColor:
        ports = self.ports(node)
        found = next((p for p in ports if p.name == port), None)
        if found is None:
            return QColor(ROLE_COLORS[Role.CONTINUES])
        if found.role == Role.BRANCH:
            if port in NAMED_COLORS:
                return QColor(NAMED_COLORS[port])
            branches = [p.name for p in ports if p.role == Role.BRANCH]
            return QColor(BRANCH_COLORS[branches.index(port) % len(BRANCH_COLORS)])
        return QColor(ROLE_COLORS.get(found.role, ROLE_COLORS[Role.CONTINUES]))

    def port_label(self, node: Node, port: str) -> str:
        """What the port and its edges are labelled ("" for a plain ``next``)."""
        found = self.kind.port(node, port)
        if found is None:
            return port.upper()
        return "" if found.role == Role.CONTINUES else found.title

    # -- words ----------------------------------------------------------
    def caption(self, flow: Flow, node: Node, preds: Optional[dict[str, list[str]]] = None) -> tuple[str, str, str]:
        """The caption under the title as ``(before, emphasised, after)``; by default
        the engine's one-line summary."""
        return (self.kind.summary(node, flow), "", "")

    def caption_depends_on_graph(self) -> bool:
        """True when the caption reads more than the node (other nodes, the campaign's
        settings): such items are refreshed after each validation pass."""
        return False

    # -- the inspector --------------------------------------------------
    def build_page(self, host: Any):  # noqa: ANN201 - a QWidget page
        """The inspector page that edits this type: a form built from its settings."""
        from editor.node_views.page import SettingsPage
        return SettingsPage(self, host)


_VIEWS: dict[str, NodeView] = {}


def register_view(view: NodeView) -> NodeView:
    _VIEWS[view.name] = view
    return view


class _UnknownView(NodeView):
    name = "unknown"
    icon_name = "end"


_UNKNOWN = _UnknownView()


def view_for(type_name: str) -> NodeView:
    """The view of ``type_name`` (a plain grey one for a type nobody registered)."""
    return _VIEWS.get(type_name, _UNKNOWN)


def views() -> dict[str, NodeView]:
    return dict(_VIEWS)

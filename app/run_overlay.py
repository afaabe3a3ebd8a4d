"""The run overlay: live figures drawn on top of a read-only flow canvas.

Canvas items (``editor.items``) keep drawing the model; these items draw the
run: a badge under each step with its counts, a band along each edge whose
width follows how many leads took it, and a halo on the steps a selected
lead has visited. ``RunOverlay.apply(figures)`` takes the engine's
``figures()`` answer as it is.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from editor import style
from editor.figure_badge import BadgeText
from editor.items import EdgeItem, NodeItem
from editor.scene import FlowScene
from engine.flow.model import Node
from engine.nodes.base import NodeType
from engine.nodes.registry import node_type

HIGHLIGHT = QColor("#7C3AED")
BADGE_GAP = 6.0
MAX_BAND = 14.0


def percent(rate: Optional[float]) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"


def _count(f: dict[str, Any], name: str) -> int:
    return int(f.get(name, 0) or 0)


def ports_line(descriptor: NodeType, node: Optional[Node], f: dict[str, Any]) -> str:
    """Tokens per output port, as the canvas names the ports: ``A 512 · B 488``, ``YES 3 · NO 5``."""
    ports = descriptor.ports(node) if node is not None else descriptor.fixed_ports
    counts = f.get("ports") or {}
    return " · ".join(f"{p.title} {int(counts.get(p.name, f.get(p.name, 0)) or 0)}" for p in ports)


def node_lines(descriptor: NodeType, node: Optional[Node], f: dict[str, Any]) -> list[str]:
    """What a step's badge says, as a marketer reads it: the figures its type shows
    (``NodeType.figures``), and for a step with several outputs how many took each."""
    shows = set(descriptor.figures)
    ports = descriptor.ports(node) if node is not None else descriptor.fixed_ports
    branching = len(ports) > 1
    lines: list[str] = []
    if branching:
        lines.append(ports_line(descriptor, node, f))
    if "waiting" in shows:
        lines.append(f"{_count(f, 'waiting')} waiting here")
    if "passed" in shows and not branching:
        lines.append(f"{_count(f, 'passed')} {'entered' if descriptor.is_entry else 'passed'}")
    if "sent" in shows:
        lines.append(f"{_count(f, 'sent')} sent")
    if "opened" in shows:
        lines.append(f"{_count(f, 'opened')} opened ({percent(f.get('open_rate'))})")
    if "clicked" in shows:
        lines.append(f"{_count(f, 'clicked')} clicked ({percent(f.get('click_rate'))})")
    machine = [f"{_count(f, key)} {word}{'s' if _count(f, key) != 1 else ''}" for key, word, figure in
               (("machine_opened", "open", "opened"), ("machine_clicked", "click", "clicked"))
               if figure in shows and _count(f, key)]
    if machine:
        lines.append("machine: " + " · ".join(machine))
    for name, words in (("queued", "queued"), ("skipped", "not sent (skipped)")):
        if name in shows and _count(f, name):
            lines.append(f"{_count(f, name)} {words}")
    if "finished" in shows:
        lines.append(f"{_count(f, 'finished')} finished")
    if "waiting" not in shows and _count(f, "waiting"):
        lines.append(f"{_count(f, 'waiting')} waiting here")
    failed = _count(f, "failed") + _count(f, "send_failed")
    if failed:
        lines.append(f"{failed} failed")
    return lines


class NodeFiguresItem(QGraphicsItem):
    """The badge under a step, and its halo when the selected lead passed there."""

    def __init__(self, node_item: NodeItem) -> None:
        super().__init__()
        self.node_item = node_item
        self.node_id = node_item.node_id
        self.node_type = node_item.node_type
        self.descriptor = node_type(self.node_type)
        self.node: Optional[Node] = node_item.flow_scene.doc.flow.find_node(self.node_id)
        self.figures: dict[str, Any] = {}
        self.lines: list[str] = []
        self.highlighted = False
        self.setZValue(3)
        self.setPos(node_item.pos())
        self._text = BadgeText()
        self._box = QRectF()
        self.set_figures({})

    def text(self) -> str:
        return "\n".join(self.lines)

    def set_figures(self, figures: dict[str, Any]) -> None:
        lines = node_lines(self.descriptor, self.node, figures)
        self.figures = dict(figures)
        if lines == self.lines:
            return
        self.prepareGeometryChange()
        self.lines = lines
        width, height = self._text.size(lines)
        self._box = QRectF(0, self.node_item.height + BADGE_GAP, width, height)
        self.setToolTip(f"{self.node_id}: " + ", ".join(lines))
        self.update()

    def set_highlighted(self, on: bool) -> None:
        if on != self.highlighted:
            self.highlighted = on
            self.update()

    def boundingRect(self) -> QRectF:
        node = self.node_item.node_rect().adjusted(-6, -6, 6, 6)
        return node.united(self._box).adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: Optional[QWidget] = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.highlighted:
            halo = QColor(HIGHLIGHT)
            halo.setAlpha(170)
            painter.setPen(QPen(halo, 4))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(self.node_item.node_rect().adjusted(-4, -4, 4, 4), 13, 13)
        if not self.lines:
            return
        accent = style.TYPE_COLORS.get(self.node_type, style.EDGE_COLOR)
        self._text.paint(painter, self._box, self.lines, QPen(HIGHLIGHT if self.highlighted else QColor(accent), 1.2))


class EdgeCountItem(QGraphicsItem):
    """An edge's count in a small pill, drawn above the steps so no port or node hides it.

    It sits at the middle of the edge; above a YES pill, below a NO pill.
    """

    def __init__(self, figures: EdgeFiguresItem) -> None:
        super().__init__()
        self.figures = figures
        self.setZValue(4)
        self._font = style.font(11, QFont.Weight.Bold)
        self._metrics = QFontMetricsF(self._font)
        self._rect = QRectF()

    def place(self) -> None:
        self.prepareGeometryChange()
        text = self.figures.text()
        w, h = self._metrics.horizontalAdvance(text) + 10, self._metrics.height() + 2
        path = self.figures.edge_item.path()
        centre = path.pointAtPercent(0.5)
        if style.PORT_LABELS.get(self.figures.edge.port):
            # Columns are only ~50 px apart: beside the YES/NO pill the count would touch a step,
            # so it goes above the YES pill and below the NO one.
            pill = QFontMetricsF(style.font(10, QFont.Weight.Bold)).height() + 3
            step = pill / 2 + h / 2 + 2
            centre += QPointF(0, -step if self.figures.edge.port == "yes" else step)
        self._rect = QRectF(centre.x() - w / 2, centre.y() - h / 2, w, h)
        self.setVisible(self.figures.count > 0)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: Optional[QWidget] = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        f = self.figures
        color = QColor(HIGHLIGHT if f.highlighted else f.edge_item.color())
        painter.setFont(self._font)
        h = self._rect.height()
        painter.setPen(QPen(color, 1.2))
        painter.setBrush(QColor("#FFFFFF"))
        painter.drawRoundedRect(self._rect, h / 2, h / 2)
        painter.setPen(color.darker(130))
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, f.text())


class EdgeFiguresItem(QGraphicsItem):
    """A band along an edge, as wide as its share of leads; its count is a separate item above the steps."""

    def __init__(self, edge_item: EdgeItem) -> None:
        super().__init__()
        self.edge_item = edge_item
        self.edge = edge_item.edge
        self.count = 0
        self.width = 0.0
        self.highlighted = False
        self.setZValue(-0.5)
        self.label = EdgeCountItem(self)
        self.label.setVisible(False)

    def text(self) -> str:
        return str(self.count)

    def set_count(self, count: int, largest: int) -> None:
        width = 0.0 if count <= 0 else 2.0 + (MAX_BAND - 2.0) * count / max(1, largest)
        if count == self.count and width == self.width:
            return
        self.prepareGeometryChange()
        self.count, self.width = count, width
        tip = f"{count} lead{'s' if count != 1 else ''} took this path"
        self.setToolTip(tip)
        self.label.setToolTip(tip)
        self.label.place()
        self.update()

    def set_highlighted(self, on: bool) -> None:
        if on != self.highlighted:
            self.highlighted = on
            self.update()
            self.label.update()

    def label_rect(self) -> QRectF:
        """Where the count is drawn, in scene coordinates."""
        return self.label.mapRectToScene(self.label.boundingRect().adjusted(2, 2, -2, -2))

    def boundingRect(self) -> QRectF:
        return self.edge_item.path().boundingRect().adjusted(-MAX_BAND - 20, -MAX_BAND - 20, MAX_BAND + 20,
                                                             MAX_BAND + 20)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: Optional[QWidget] = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = self.edge_item.path()
        color = QColor(HIGHLIGHT if self.highlighted else self.edge_item.color())
        if self.width > 0 or self.highlighted:
            band = QColor(color)
            band.setAlpha(150 if self.highlighted else 70)
            stroker = QPainterPathStroker()
            stroker.setWidth(max(self.width, 6.0 if self.highlighted else 0.0))
            stroker.setCapStyle(Qt.PenCapStyle.RoundCap)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(band)
            painter.drawPath(stroker.createStroke(path))


def visited_nodes(flow: Any, timeline: dict[str, Any]) -> set[str]:
    """The steps a lead has been through: its sends, skips, waits, tokens' places and
    paths, plus the entry and the steps that leave no record of their own (a condition,
    a check, a split, a window that was open) between two visited steps."""
    seen = {n.id for n in flow.nodes if node_type(n.type).is_entry}
    seen |= {s["node"] for s in timeline.get("sends", [])}
    seen |= {k["node"] for k in timeline.get("skips", [])}
    seen |= {w["node"] for w in timeline.get("waits", [])}
    for token in timeline.get("tokens", []):
        seen.add(token["node"])
        seen |= set((token.get("path") or {}).keys())
    for event in timeline.get("events", []):
        seen |= set(event.get("triggered") or [])
    changed = True
    while changed:
        changed = False
        for node in flow.nodes:
            if node.id in seen or node_type(node.type).sends:
                continue
            into = any(e.target == node.id and e.source in seen for e in flow.edges)
            out = any(e.source == node.id and e.target in seen for e in flow.edges)
            if into and out:
                seen.add(node.id)
                changed = True
    return seen & {n.id for n in flow.nodes}


class RunOverlay:
    """Overlay items for every step and edge of a (read-only) flow scene."""

    def __init__(self, scene: FlowScene) -> None:
        self.scene = scene
        self.nodes: dict[str, NodeFiguresItem] = {}
        self.edges: dict[tuple[str, str], EdgeFiguresItem] = {}
        for node_id, item in scene.nodes.items():
            figure = NodeFiguresItem(item)
            scene.addItem(figure)
            self.nodes[node_id] = figure
        for edge, item in scene.edges.items():
            figure = EdgeFiguresItem(item)
            scene.addItem(figure)
            scene.addItem(figure.label)
            self.edges[(edge.source, edge.port)] = figure

    def apply(self, figures: dict[str, Any]) -> None:
        for node_id, data in (figures.get("nodes") or {}).items():
            item = self.nodes.get(node_id)
            if item is not None:
                item.set_figures(data)
        counts = {(e["from"], e.get("port", "next")): int(e["count"]) for e in figures.get("edges") or []}
        largest = max(counts.values(), default=0)
        for key, item in self.edges.items():
            item.set_count(counts.get(key, 0), largest)

    def highlight(self, node_ids: set[str]) -> None:
        for node_id, item in self.nodes.items():
            item.set_highlighted(node_id in node_ids)
        for (source, _port), item in self.edges.items():
            item.set_highlighted(source in node_ids and item.edge.target in node_ids)

    def highlighted(self) -> set[str]:
        return {n for n, item in self.nodes.items() if item.highlighted}

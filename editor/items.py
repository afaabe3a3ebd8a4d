"""Canvas node items: they paint the model and report what the user did.

A ``NodeItem`` knows only its node id; it reads the node from the document
when it refreshes and caches nothing but the text it draws. How it looks
(colour, icon, width, height, where each output port sits, port colours and
labels, its caption) comes from its type's view descriptor
(``editor/node_views``), so a type with any number of ports draws without
overlap and nothing here names a type. Findings from validation are pushed
onto items by the scene (the overlay).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from editor import style
from editor.caption import CAPTION_LINES, caption_fonts, wrap_runs
from editor.edges import EdgeItem, curve
from editor.item_parts import PORT_RADIUS, HoverHighlight, findings_tooltip, worst
from editor.node_views import view_for
from editor.summary import summary, title
from engine.flow.validate import Finding

if TYPE_CHECKING:
    from editor.scene import FlowScene

__all__ = ["EdgeItem", "NodeItem", "PortItem", "curve", "wrap_runs", "PORT_RADIUS", "CAPTION_LINES"]

FINDING_WIDTH = 214.0


class PortItem(QGraphicsEllipseItem):
    """An output port: drag from here to a node to connect them."""

    def __init__(self, node_item: NodeItem, port: str) -> None:
        r = PORT_RADIUS
        super().__init__(-r, -r, 2 * r, 2 * r, node_item)
        self.node_item = node_item
        self.port = port
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)
        node = node_item.node()
        self.color = node_item.view.port_color(node, port)
        self.label = node_item.view.port_label(node, port)
        self.setBrush(QBrush(self.color))
        self.setPen(QPen(QColor("white"), 2))
        self.setToolTip(f"{self.label} output: drag to a step to connect" if self.label
                        else "Drag to a step to connect")

    def hoverEnterEvent(self, event: Any) -> None:
        r = PORT_RADIUS + 2
        self.setRect(-r, -r, 2 * r, 2 * r)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: Any) -> None:
        r = PORT_RADIUS
        self.setRect(-r, -r, 2 * r, 2 * r)
        super().hoverLeaveEvent(event)


class NodeItem(HoverHighlight, QGraphicsItem):
    """One step on the canvas."""

    def __init__(self, scene: FlowScene, node_id: str) -> None:
        super().__init__()
        self.flow_scene = scene
        self.node_id = node_id
        node = scene.doc.node(node_id)
        self.node_type = node.type
        self.view = view_for(node.type)
        self.width = self.view.width
        self.height = self.view.height(node)
        self.findings: list[Finding] = []
        #: "ok" or "refused" while a new edge hovers this node.
        self.drop_state: Optional[str] = None
        self._syncing = False
        self._text: tuple[str, str, str] = ("", "", "")
        self._hover = False
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.ports: dict[str, PortItem] = {}
        self._offsets: dict[str, float] = {}
        self.sync_ports()
        self.refresh()
        self.sync_position()

    # -- geometry --------------------------------------------------------
    def node_rect(self) -> QRectF:
        return QRectF(0, 0, self.width, self.height)

    def boundingRect(self) -> QRectF:
        return QRectF(-14, -24, max(self.width, FINDING_WIDTH) + 60, self.height + 24 + 46)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self.node_rect(), 10, 10)
        return path

    def port_pos(self, port: str) -> QPointF:
        return QPointF(self.width, self._offsets.get(port, self.height / 2))

    def output_scene_pos(self, port: str) -> QPointF:
        return self.mapToScene(self.port_pos(port))

    def input_scene_pos(self) -> QPointF:
        return self.mapToScene(QPointF(0, self.height / 2))

    # -- model -> item ---------------------------------------------------
    def node(self):  # noqa: ANN201 - the live model node
        return self.flow_scene.doc.node(self.node_id)

    def sync_ports(self) -> bool:
        """Rebuild the output ports when the node's ports changed (a split's branches);
        the node grows so they never overlap. True when anything moved."""
        node = self.node()
        offsets = self.view.port_offsets(node)
        colours = {p: (self.view.port_color(node, p).name(), self.view.port_label(node, p)) for p in offsets}
        current = {p: (i.color.name(), i.label) for p, i in self.ports.items()}
        if offsets == self._offsets and colours == current:
            return False
        self.prepareGeometryChange()
        self.height = self.view.height(node)
        self._offsets = offsets
        for item in self.ports.values():
            item.setParentItem(None)
            if item.scene() is not None:
                item.scene().removeItem(item)
        self.ports = {}
        for port in offsets:
            item = PortItem(self, port)
            item.setPos(self.port_pos(port))
            self.ports[port] = item
        return True

    def refresh(self, preds: Optional[dict[str, list[str]]] = None) -> None:
        """Re-read the node's key setting from the model and repaint."""
        node = self.node()
        if preds is None and self.sync_ports() and self.scene() is not None:
            self.flow_scene.node_item_moved(self)  # its edges follow the ports
        text = summary(self.flow_scene.doc.flow, node, preds)
        if text != self._text or preds is None:
            self._text = text
            self._update_tooltip()
            self.update()

    def sync_position(self) -> None:
        position = self.node().extra.get("position") or [0, 0]
        pos = QPointF(float(position[0]), float(position[1]))
        if pos != self.pos():
            self._syncing = True
            try:
                self.setPos(pos)
            finally:
                self._syncing = False

    def model_position(self) -> Optional[list]:
        return self.node().extra.get("position")

    def set_findings(self, findings: list[Finding]) -> None:
        if [f for f in findings] == self.findings:
            return
        self.findings = list(findings)
        self._update_tooltip()
        self.update()

    def set_drop_state(self, state: Optional[str]) -> None:
        if state != self.drop_state:
            self.drop_state = state
            self.update()

    def _update_tooltip(self) -> None:
        node = self.node()
        parts = [f"<b>{title(node)}</b> “{node.id}”"]
        note = node.extra.get("note")
        if note:
            parts.append(f"<i>{note}</i>")
        if self.findings:
            parts.append(findings_tooltip(self.findings))
        self.setToolTip("<br>".join(parts))

    # -- Qt --------------------------------------------------------------
    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange and not self._syncing:
            if self.flow_scene.snap_to_grid:
                grid = style.GRID
                value = QPointF(round(value.x() / grid) * grid, round(value.y() / grid) * grid)
            return value
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self.flow_scene.node_item_moved(self)
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.update()
        return super().itemChange(change, value)

    def mouseDoubleClickEvent(self, event: Any) -> None:
        self.flow_scene.nodeActivated.emit(self.node_id)
        super().mouseDoubleClickEvent(event)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: Optional[QWidget] = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.node_rect()
        severity = worst(self.findings)
        accent = self.view.qcolor()
        # Soft shadow, selection halo.
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(16, 24, 40, 20))
        painter.drawRoundedRect(rect.translated(0, 2), 10, 10)
        if self.isSelected():
            halo = QColor(style.SELECTION)
            halo.setAlpha(50)
            painter.setBrush(halo)
            painter.drawRoundedRect(rect.adjusted(-5, -5, 5, 5), 14, 14)
        # Body.
        pen = QPen(style.NODE_BORDER, 1)
        if severity:
            pen = QPen(style.SEVERITY_COLORS[severity], 2)
        if self.isSelected():
            pen = QPen(style.SELECTION, 2)
        if self.drop_state == "ok":
            pen = QPen(style.DROP_OK, 3)
        elif self.drop_state == "refused":
            pen = QPen(style.DROP_REFUSED, 3, Qt.PenStyle.DashLine)
        elif self._hover and not severity and not self.isSelected():
            pen = QPen(QColor("#98A2B3"), 1.2)
        painter.setPen(pen)
        painter.setBrush(style.NODE_FILL)
        painter.drawRoundedRect(rect, 10, 10)
        # Type stripe on the left edge.
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(accent)
        painter.setClipPath(self.shape())
        painter.drawRect(QRectF(rect.left(), rect.top(), 4, rect.height()))
        painter.setClipping(False)
        # Icon.
        icon = QRectF(14, (self.height - 28) / 2, 28, 28)
        style.paint_icon(painter, self.view.icon, icon)
        # Title and id.
        left = icon.right() + 10
        right_pad = 10
        text_width = self.width - left - right_pad
        painter.setFont(style.font(13, QFont.Weight.DemiBold))
        painter.setPen(style.TEXT)
        heading = title(self.node())
        painter.drawText(QRectF(left, 5, text_width, 18), Qt.AlignmentFlag.AlignLeft
                         | Qt.AlignmentFlag.AlignVCenter, heading)
        id_font = style.font(11)
        room = text_width - QFontMetricsF(style.font(13, QFont.Weight.DemiBold)).horizontalAdvance(heading) - 8
        if room > 12:
            painter.setFont(id_font)
            painter.setPen(style.TEXT_MUTED)
            painter.drawText(QRectF(left, 5, text_width, 18), Qt.AlignmentFlag.AlignRight
                             | Qt.AlignmentFlag.AlignVCenter,
                             QFontMetricsF(id_font).elidedText(self.node_id, Qt.TextElideMode.ElideRight,
                                                               min(room, 56)))
        self._paint_summary(painter, QRectF(left, 24, text_width, self.height - 27))
        if self.view.has_input:
            painter.setPen(QPen(QColor("white"), 2))
            painter.setBrush(QColor("#98A2B3"))
            painter.drawEllipse(QPointF(0, self.height / 2), 4.5, 4.5)
        self._paint_port_labels(painter)
        self._paint_note(painter)
        if severity:
            self._paint_findings(painter, severity)

    def caption_lines(self, width: Optional[float] = None) -> list[str]:
        """The caption as painted, line by line (what a user reads under the title)."""
        return ["".join(text for text, _kind in line) for line in self._caption(width)]

    def _caption(self, width: Optional[float] = None) -> list[list[tuple[str, str]]]:
        before, emphasis, after = self._text
        placeholder = not before and emphasis and not after
        runs = [(before, "normal"), (emphasis, "muted" if placeholder else "emphasis"), (after, "normal")]
        room = width if width is not None else self.width - 52 - 10
        return wrap_runs([(t, k) for t, k in runs if t], room, CAPTION_LINES)

    def _paint_summary(self, painter: QPainter, box: QRectF) -> None:
        fonts = caption_fonts()
        line_height = QFontMetricsF(fonts["normal"]).lineSpacing()
        lines = self._caption(box.width())
        # One line sits in the middle of the space; two fill it.
        top = box.top() + (box.height() - line_height * len(lines)) / 2
        for index, line in enumerate(lines):
            baseline = top + index * line_height + QFontMetricsF(fonts["normal"]).ascent()
            x = box.left()
            for text, kind in line:
                f = fonts[kind]
                painter.setFont(f)
                painter.setPen(style.TEXT if kind == "emphasis" else style.TEXT_MUTED)
                painter.drawText(QPointF(x, baseline), text)
                x += QFontMetricsF(f).horizontalAdvance(text)

    def _paint_port_labels(self, painter: QPainter) -> None:
        """Each labelled port that has no edge yet says its name beside it (an edge
        carries the label on its pill instead)."""
        painter.setFont(style.font(10, QFont.Weight.Bold))
        connected = {e.port for e in self.flow_scene.edges_from(self.node_id)}
        for port, item in self.ports.items():
            if port in connected or not item.label:
                continue
            pos = item.pos()
            painter.setPen(item.color)
            painter.drawText(QRectF(pos.x() + PORT_RADIUS + 3, pos.y() - 7, 44, 14), Qt.AlignmentFlag.AlignLeft
                             | Qt.AlignmentFlag.AlignVCenter, item.label)

    def _paint_note(self, painter: QPainter) -> None:
        note = self.node().extra.get("note")
        if not note:
            return
        f = style.font(11, italic=True)
        painter.setFont(f)
        painter.setPen(style.TEXT_MUTED)
        text = QFontMetricsF(f).elidedText("✎ " + " ".join(str(note).split()), Qt.TextElideMode.ElideRight,
                                           self.width + 40)
        painter.drawText(QRectF(2, -20, self.width + 44, 16), Qt.AlignmentFlag.AlignLeft
                         | Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_findings(self, painter: QPainter, severity: str) -> None:
        color = style.SEVERITY_COLORS[severity]
        # Badge on the corner.
        centre = QPointF(self.width - 2, 2)
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(color)
        painter.drawEllipse(centre, 8, 8)
        painter.setFont(style.font(11, QFont.Weight.Bold))
        painter.setPen(QColor("white"))
        painter.drawText(QRectF(centre.x() - 8, centre.y() - 8, 16, 16), Qt.AlignmentFlag.AlignCenter, "!")
        # The first message beside the node (below it), two lines at most.
        first = sorted(self.findings, key=lambda f: not f.is_error)[0]
        message = first.message
        if len(self.findings) > 1:
            message = f"{message} (+{len(self.findings) - 1} more)"
        f = style.font(11)
        fm = QFontMetricsF(f)
        width = max(self.width, FINDING_WIDTH)
        message = fm.elidedText(message, Qt.TextElideMode.ElideRight, width * 2 - 30)
        painter.setFont(f)
        painter.setPen(color.darker(115))
        box = QRectF(2, self.height + 5, width, fm.lineSpacing() * 2 + 2)
        painter.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                         | Qt.TextFlag.TextWordWrap, message)

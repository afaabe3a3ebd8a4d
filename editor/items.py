"""Canvas items: they paint the model and report what the user did.

A ``NodeItem`` knows only its node id; it reads the node from the document
when it refreshes and caches nothing but the text it draws. Findings from
validation are pushed onto items by the scene (the overlay).
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any, Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from editor import style
from editor.summary import summary, title
from engine.flow.model import Edge
from engine.flow.validate import Finding

if TYPE_CHECKING:
    from editor.scene import FlowScene

PORT_RADIUS = 6.0
FINDING_WIDTH = 214.0
#: A caption takes up to two lines under the title before it is shortened with "…".
CAPTION_LINES = 2
_PORT_Y = {"next": 0.5, "yes": 0.3, "no": 0.72}


def _worst(findings: list[Finding]) -> Optional[str]:
    if not findings:
        return None
    return "error" if any(f.is_error for f in findings) else "warning"


@cache
def _caption_fonts() -> dict[str, QFont]:
    normal = style.font(12)
    emphasis = style.font(12, QFont.Weight.Medium, italic=True)
    return {"normal": normal, "muted": emphasis, "emphasis": emphasis}


def wrap_runs(runs: list[tuple[str, str]], width: float, max_lines: int) -> list[list[tuple[str, str]]]:
    """Word-wrap styled runs (text, font kind) into at most ``max_lines`` lines of ``width``.

    Only the last line is shortened with "…", and a short closing run (the
    "?" of a condition) stays visible after the ellipsis, so "Opened …?"
    still reads as a question.
    """
    fonts = _caption_fonts()

    def advance(text: str, kind: str) -> float:
        return QFontMetricsF(fonts[kind]).horizontalAdvance(text)

    words = [(w, kind) for text, kind in runs for w in re.findall(r"\S+\s*", text)]
    lines: list[list[tuple[str, str]]] = []
    while words and len(lines) < max_lines:
        last = len(lines) == max_lines - 1
        used = 0.0
        line: list[tuple[str, str]] = []
        while words:
            word, kind = words[0]
            w = advance(word.rstrip(), kind)
            if used + w <= width or (not line and not last):
                if not line and used + w > width:  # one word longer than a line: cut it there
                    word = QFontMetricsF(fonts[kind]).elidedText(word, Qt.TextElideMode.ElideRight, width)
                line.append((word, kind))
                used += advance(word, kind)
                words.pop(0)
            else:
                break
        if last and words:
            tail = runs[-1] if len(runs) > 1 and len(runs[-1][0]) <= 2 else None
            rest = line + words
            if tail is not None:
                rest = rest[:len(rest) - len(re.findall(r"\S+\s*", tail[0]))]
            room = width - (advance(tail[0], tail[1]) if tail else 0.0)
            line = _elide_runs(rest, room, advance) + ([tail] if tail else [])
            words = []
        lines.append(_merge(line))
    return lines


def _elide_runs(words: list[tuple[str, str]], room: float, advance: Any) -> list[tuple[str, str]]:
    """As many words as fit in ``room`` with "…" after them (the last one cut if need be)."""
    kept: list[tuple[str, str]] = []
    used = 0.0
    for word, kind in words:
        w = advance(word, kind)
        if used + w + advance("…", kind) > room:
            fm = QFontMetricsF(_caption_fonts()[kind])
            cut = fm.elidedText(word.rstrip(), Qt.TextElideMode.ElideRight, max(0.0, room - used))
            kept.append((cut if cut.endswith("…") else cut + "…", kind))
            return kept
        kept.append((word, kind))
        used += w
    return kept


def _merge(line: list[tuple[str, str]]) -> list[tuple[str, str]]:
    merged: list[tuple[str, str]] = []
    for text, kind in line:
        if merged and merged[-1][1] == kind:
            merged[-1] = (merged[-1][0] + text, kind)
        else:
            merged.append((text, kind))
    if merged:
        merged[-1] = (merged[-1][0].rstrip(), merged[-1][1])
    return merged


def findings_tooltip(findings: list[Finding]) -> str:
    lines = [f"<b>{'Error' if f.is_error else 'Warning'}</b> ({f.code}): {f.message}" for f in findings]
    return "<br>".join(lines)


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
        color = style.PORT_COLORS.get(port, style.EDGE_COLOR)
        self.setBrush(QBrush(color))
        self.setPen(QPen(QColor("white"), 2))
        label = style.PORT_LABELS.get(port)
        self.setToolTip(f"{label} output: drag to a step to connect" if label
                        else "Drag to a step to connect")

    def hoverEnterEvent(self, event: Any) -> None:
        r = PORT_RADIUS + 2
        self.setRect(-r, -r, 2 * r, 2 * r)
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: Any) -> None:
        r = PORT_RADIUS
        self.setRect(-r, -r, 2 * r, 2 * r)
        super().hoverLeaveEvent(event)


class HoverHighlight:
    """Remembers whether the pointer is over the item and repaints when that changes."""

    _hover = False

    def hoverEnterEvent(self, event: Any) -> None:
        self._hover = True
        self.update()
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: Any) -> None:
        self._hover = False
        self.update()
        super().hoverLeaveEvent(event)


class NodeItem(HoverHighlight, QGraphicsItem):
    """One step on the canvas."""

    def __init__(self, scene: FlowScene, node_id: str) -> None:
        super().__init__()
        self.flow_scene = scene
        self.node_id = node_id
        node = scene.doc.node(node_id)
        self.node_type = node.type
        self.width = float(style.END_WIDTH if node.type == "end" else style.NODE_WIDTH)
        self.height = float(style.NODE_HEIGHT)
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
        for port in node.ports:
            item = PortItem(self, port)
            item.setPos(self.port_pos(port))
            self.ports[port] = item
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
        return QPointF(self.width, self.height * _PORT_Y.get(port, 0.5))

    def output_scene_pos(self, port: str) -> QPointF:
        return self.mapToScene(self.port_pos(port))

    def input_scene_pos(self) -> QPointF:
        return self.mapToScene(QPointF(0, self.height / 2))

    # -- model -> item ---------------------------------------------------
    def node(self):  # noqa: ANN201 - the live model node
        return self.flow_scene.doc.node(self.node_id)

    def refresh(self, preds: Optional[dict[str, list[str]]] = None) -> None:
        """Re-read the node's key setting from the model and repaint."""
        node = self.node()
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
        severity = _worst(self.findings)
        accent = style.TYPE_COLORS.get(self.node_type, style.EDGE_COLOR)
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
        style.paint_icon(painter, self.node_type, icon)
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
        if self.node_type != "start":
            painter.setPen(QPen(QColor("white"), 2))
            painter.setBrush(QColor("#98A2B3"))
            painter.drawEllipse(QPointF(0, self.height / 2), 4.5, 4.5)
        if self.node_type == "condition":
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
        fonts = _caption_fonts()
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
        painter.setFont(style.font(10, QFont.Weight.Bold))
        connected = {e.port for e in self.flow_scene.edges_from(self.node_id)}
        for port, item in self.ports.items():
            if port in connected:
                continue  # the edge carries the label
            pos = item.pos()
            painter.setPen(style.PORT_COLORS[port])
            label = style.PORT_LABELS[port]
            y = pos.y() - 17 if port == "yes" else pos.y() + 5
            painter.drawText(QRectF(pos.x() + 4, y, 40, 13), Qt.AlignmentFlag.AlignLeft
                             | Qt.AlignmentFlag.AlignVCenter, label)

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


class EdgeItem(HoverHighlight, QGraphicsPathItem):
    """A smooth cubic curve from an output port to a node's input."""

    def __init__(self, scene: FlowScene, edge: Edge) -> None:
        super().__init__()
        self.flow_scene = scene
        self.edge = edge
        self.findings: list[Finding] = []
        self._hover = False
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(-1)
        label = style.PORT_LABELS.get(edge.port)
        self.setToolTip(f"{label} path from “{edge.source}” to “{edge.target}”" if label
                        else f"From “{edge.source}” to “{edge.target}”")
        self.adjust()

    def adjust(self) -> None:
        source = self.flow_scene.nodes.get(self.edge.source)
        target = self.flow_scene.nodes.get(self.edge.target)
        if source is None or target is None:
            return
        start = source.output_scene_pos(self.edge.port) + QPointF(PORT_RADIUS - 1, 0)
        end = target.input_scene_pos() - QPointF(6, 0)
        self.setPath(curve(start, end))

    def set_findings(self, findings: list[Finding]) -> None:
        if findings == self.findings:
            return
        self.findings = list(findings)
        label = style.PORT_LABELS.get(self.edge.port)
        base = (f"{label} path from “{self.edge.source}” to “{self.edge.target}”" if label
                else f"From “{self.edge.source}” to “{self.edge.target}”")
        self.setToolTip(base + ("<br>" + findings_tooltip(self.findings) if self.findings else ""))
        self.update()

    def color(self) -> QColor:
        return style.PORT_COLORS.get(self.edge.port, style.EDGE_COLOR)

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(14)
        return stroker.createStroke(self.path())

    def boundingRect(self) -> QRectF:
        return self.path().boundingRect().adjusted(-24, -24, 24, 24)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: Optional[QWidget] = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = self.path()
        color = self.color()
        severity = _worst(self.findings)
        width = 2.0
        if self.isSelected():
            halo = QColor(style.SELECTION)
            halo.setAlpha(60)
            painter.setPen(QPen(halo, 9, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            painter.drawPath(path)
            width = 2.8
        elif self._hover:
            width = 2.8
        pen_style = Qt.PenStyle.SolidLine
        if severity:
            color = style.SEVERITY_COLORS[severity]
            pen_style = Qt.PenStyle.DashLine
        painter.setPen(QPen(color, width, pen_style, Qt.PenCapStyle.RoundCap))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        paint_arrow(painter, path, color)
        label = style.PORT_LABELS.get(self.edge.port)
        if label:
            paint_pill(painter, path.pointAtPercent(0.5), label, color)


def curve(start: QPointF, end: QPointF) -> QPainterPath:
    dx = max(40.0, abs(end.x() - start.x()) * 0.5)
    path = QPainterPath(start)
    path.cubicTo(QPointF(start.x() + dx, start.y()), QPointF(end.x() - dx, end.y()), end)
    return path


def paint_arrow(painter: QPainter, path: QPainterPath, color: QColor) -> None:
    end = path.pointAtPercent(1.0)
    arrow = QPolygonF([end, QPointF(end.x() - 9, end.y() - 4.5), QPointF(end.x() - 9, end.y() + 4.5)])
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawPolygon(arrow)


def paint_pill(painter: QPainter, centre: QPointF, text: str, color: QColor) -> None:
    f = style.font(10, QFont.Weight.Bold)
    fm = QFontMetricsF(f)
    w = fm.horizontalAdvance(text) + 12
    h = fm.height() + 3
    rect = QRectF(centre.x() - w / 2, centre.y() - h / 2, w, h)
    painter.setPen(QPen(color, 1.2))
    painter.setBrush(QColor("white"))
    painter.drawRoundedRect(rect, h / 2, h / 2)
    painter.setFont(f)
    painter.setPen(color)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

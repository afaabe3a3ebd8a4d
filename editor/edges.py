"""Edge items: a smooth cubic curve from an output port to a node's input,
coloured and labelled as the source's view descriptor draws that port."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from editor import style
from editor.item_parts import PORT_RADIUS, HoverHighlight, findings_tooltip, worst
from editor.node_views import view_for
from engine.flow.model import Edge
from engine.flow.validate import Finding

if TYPE_CHECKING:
    from editor.scene import FlowScene


class EdgeItem(HoverHighlight, QGraphicsPathItem):
    def __init__(self, scene: FlowScene, edge: Edge) -> None:
        super().__init__()
        self.flow_scene = scene
        self.edge = edge
        self.findings: list[Finding] = []
        self._hover = False
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(-1)
        self._update_tooltip()
        self.adjust()

    def label(self) -> str:
        """The port's label as the source draws it ("YES", "A"; "" for ``next``)."""
        source = self.flow_scene.doc.flow.find_node(self.edge.source)
        return view_for(source.type).port_label(source, self.edge.port) if source is not None else ""

    def color(self) -> QColor:
        source = self.flow_scene.doc.flow.find_node(self.edge.source)
        return view_for(source.type).port_color(source, self.edge.port) if source is not None else style.EDGE_COLOR

    def _update_tooltip(self) -> None:
        label = self.label()
        base = (f"{label} path from “{self.edge.source}” to “{self.edge.target}”" if label
                else f"From “{self.edge.source}” to “{self.edge.target}”")
        self.setToolTip(base + ("<br>" + findings_tooltip(self.findings) if self.findings else ""))

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
        self._update_tooltip()
        self.update()

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
        severity = worst(self.findings)
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
        label = self.label()
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

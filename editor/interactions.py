"""Mouse gestures as small objects with start, end and cancel.

The scene holds at most one at a time (after Orange's
``document/interactions.py``). Each one only pushes commands when it ends
well; cancelling (Escape, focus loss) leaves the model as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem, QGraphicsSceneMouseEvent, QToolTip

from editor import style
from editor.commands import Connect
from editor.items import NodeItem, PortItem, curve
from editor.node_views import view_for
from engine.flow.errors import FlowEditError

if TYPE_CHECKING:
    from editor.scene import FlowScene


class Interaction:
    def __init__(self, scene: FlowScene) -> None:
        self.scene = scene
        self.finished = False

    def mouse_move(self, event: QGraphicsSceneMouseEvent) -> None:
        pass

    def mouse_release(self, event: QGraphicsSceneMouseEvent) -> None:
        self.end()

    def end(self) -> None:
        self.finished = True
        self.cleanup()
        self.scene.interaction_finished(self)

    def cancel(self) -> None:
        self.finished = True
        self.cleanup()
        self.scene.interaction_finished(self)

    def cleanup(self) -> None:
        pass


class NewEdgeInteraction(Interaction):
    """Drag from an output port to a node; forbidden targets say why by the cursor."""

    def __init__(self, scene: FlowScene, port: PortItem) -> None:
        super().__init__(scene)
        self.source = port.node_item.node_id
        self.port = port.port
        self.start_pos = port.scenePos()
        self.target: Optional[NodeItem] = None
        self.message: Optional[str] = None
        self.line = QGraphicsPathItem()
        color = port.color
        self.line.setPen(QPen(color, 2.2, Qt.PenStyle.DashLine, Qt.PenCapStyle.RoundCap))
        self.line.setZValue(5)
        scene.addItem(self.line)
        self.line.setPath(curve(self.start_pos, self.start_pos))

    def _target_at(self, pos: QPointF) -> Optional[NodeItem]:
        for item in self.scene.items(pos):
            if isinstance(item, PortItem):
                item = item.node_item
            if isinstance(item, NodeItem) and item.shape().contains(item.mapFromScene(pos)):
                return item
        return None

    def mouse_move(self, event: QGraphicsSceneMouseEvent) -> None:
        pos = event.scenePos()
        target = self._target_at(pos)
        if target is not self.target and self.target is not None:
            self.target.set_drop_state(None)
        self.target = target
        end = target.input_scene_pos() if target is not None else pos
        self.line.setPath(curve(self.start_pos, end))
        if target is None:
            self.message = None
            QToolTip.hideText()
            return
        try:
            self.scene.doc.flow.check_connect(self.source, self.port, target.node_id)
        except FlowEditError as exc:
            self.message = str(exc)
            target.set_drop_state("refused")
            self._show_message(event.screenPos())
        else:
            self.message = None
            target.set_drop_state("ok")
            QToolTip.hideText()

    def mouse_release(self, event: QGraphicsSceneMouseEvent) -> None:
        self.mouse_move(event)
        target = self.target
        if target is not None and self.message is None:
            self.scene.doc.undo_stack.push(Connect(self.scene.doc, self.source, self.port, target.node_id))
        elif target is not None and self.message:
            self._show_message(event.screenPos())
            self.scene.report_refusal(self.message)
        self.end()

    def _show_message(self, screen_pos: QPoint) -> None:
        views = self.scene.views()
        widget = views[0].viewport() if views else None
        QToolTip.showText(screen_pos, self.message or "", widget)

    def cleanup(self) -> None:
        if self.target is not None:
            self.target.set_drop_state(None)
        self.scene.removeItem(self.line)


class RubberBandInteraction(Interaction):
    """Drag on empty canvas to select every step and edge the band touches."""

    def __init__(self, scene: FlowScene, pos: QPointF, extend: bool) -> None:
        super().__init__(scene)
        self.origin = pos
        self.extend = extend
        self.before = scene.selectedItems() if extend else []
        if not extend:
            scene.clearSelection()
        self.band = QGraphicsRectItem()
        fill = QColor(style.SELECTION)
        fill.setAlpha(28)
        self.band.setBrush(fill)
        self.band.setPen(QPen(style.SELECTION, 1))
        self.band.setZValue(10)
        scene.addItem(self.band)
        self.band.setRect(QRectF(pos, pos))

    def mouse_move(self, event: QGraphicsSceneMouseEvent) -> None:
        rect = QRectF(self.origin, event.scenePos()).normalized()
        self.band.setRect(rect)
        path = QPainterPath()
        path.addRect(rect)
        self.scene.setSelectionArea(path, Qt.ItemSelectionOperation.ReplaceSelection,
                                    Qt.ItemSelectionMode.IntersectsItemShape)
        for item in self.before:
            item.setSelected(True)

    def mouse_release(self, event: QGraphicsSceneMouseEvent) -> None:
        self.mouse_move(event)
        self.end()

    def cleanup(self) -> None:
        self.scene.removeItem(self.band)


class PaletteDropInteraction(Interaction):
    """A step type dragged from the palette: a ghost follows, the drop adds it."""

    def __init__(self, scene: FlowScene, node_type: str) -> None:
        super().__init__(scene)
        self.node_type = node_type
        view = view_for(node_type)
        self.ghost = QGraphicsRectItem(0, 0, view.width, style.NODE_HEIGHT)
        color = view.qcolor()
        self.ghost.setPen(QPen(color, 1.5, Qt.PenStyle.DashLine))
        color.setAlpha(30)
        self.ghost.setBrush(color)
        self.ghost.setZValue(10)
        self.ghost.hide()
        scene.addItem(self.ghost)

    def top_left(self, pos: QPointF) -> QPointF:
        rect = self.ghost.rect()
        point = QPointF(pos.x() - rect.width() / 2, pos.y() - rect.height() / 2)
        return self.scene.snapped(point)

    def move(self, pos: QPointF) -> None:
        self.ghost.setPos(self.top_left(pos))
        self.ghost.show()

    def drop(self, pos: QPointF) -> str:
        """Add the step where it was dropped; returns its id."""
        node_id = self.scene.add_node(self.node_type, self.top_left(pos))
        self.end()
        return node_id

    def cleanup(self) -> None:
        self.scene.removeItem(self.ghost)

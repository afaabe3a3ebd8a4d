"""The canvas view: wheel zoom, zoom to fit, pan (middle drag or Space+drag),
and drops from the palette."""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QPoint, QRectF, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView

from editor.interactions import PaletteDropInteraction
from editor.palette import NODE_TYPE_MIME
from editor.scene import FlowScene

MIN_ZOOM = 0.15
MAX_ZOOM = 3.0
#: The smallest zoom a flow opens at: below it node text is too small to read on a laptop screen.
READABLE_ZOOM = 0.8


class FlowView(QGraphicsView):
    zoomChanged = Signal(float)
    #: A step was dropped from the palette: (node id).
    nodeDropped = Signal(str)

    def __init__(self, scene: FlowScene, parent: Any = None) -> None:
        super().__init__(scene, parent)
        self.flow_scene = scene
        self.setObjectName("FlowView")
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: Optional[QPoint] = None
        self._space = False
        self._drop: Optional[PaletteDropInteraction] = None

    def _grow_scene_rect(self) -> None:
        self.flow_scene.make_room(self.flow_scene.content_rect())

    # -- zoom ------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        factor = max(MIN_ZOOM, min(MAX_ZOOM, factor))
        self.scale(factor / self.zoom(), factor / self.zoom())
        self.zoomChanged.emit(self.zoom())

    def zoom_by(self, ratio: float) -> None:
        self.set_zoom(self.zoom() * ratio)

    def zoom_in(self) -> None:
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.zoom_by(1.25)
        self.setTransformationAnchor(anchor)

    def zoom_out(self) -> None:
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.zoom_by(0.8)
        self.setTransformationAnchor(anchor)

    def reset_zoom(self) -> None:
        self.set_zoom(1.0)

    def zoom_to_fit(self, readable: bool = False, content: Optional[QRectF] = None) -> None:
        """Show the whole flow (never larger than actual size).

        ``readable``: never smaller than ``READABLE_ZOOM`` either, which is how
        a flow opens; when it is then wider than the view, its beginning (the
        left, where leads enter) is shown, so the marketer reads from the start.
        """
        content = content if content is not None else self.flow_scene.content_rect()
        if content.isNull():
            self.reset_zoom()
            return
        self._grow_scene_rect()
        margin = content.adjusted(-40, -40, 40, 40)
        self.fitInView(margin, Qt.AspectRatioMode.KeepAspectRatio)
        smallest = READABLE_ZOOM if readable else MIN_ZOOM
        if self.zoom() > 1.0:
            self.set_zoom(1.0)
            self.centerOn(content.center())
        elif self.zoom() < smallest:
            self.set_zoom(smallest)
            self.centerOn(content.center())
            view = self.mapToScene(self.viewport().rect()).boundingRect()
            if view.width() < margin.width():
                self.centerOn(margin.left() + view.width() / 2, view.center().y())
            if view.height() < margin.height():
                self.centerOn(self.mapToScene(self.viewport().rect()).boundingRect().center().x(),
                              margin.top() + view.height() / 2)
        self.zoomChanged.emit(self.zoom())

    def centre_on_node(self, node_id: str) -> None:
        item = self.flow_scene.nodes.get(node_id)
        if item is not None:
            self.centerOn(item.sceneBoundingRect().center())

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier or delta == 0:
            super().wheelEvent(event)
            return
        self.zoom_by(1.0015 ** delta)
        event.accept()

    # -- pan -------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space)
        if pan:
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            now = event.position().toPoint()
            delta = now - self._pan_from
            self._pan_from = now
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            if self._space:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # -- drops from the palette -----------------------------------------
    def _node_type(self, event: Any) -> Optional[str]:
        mime = event.mimeData()
        if mime is None or not mime.hasFormat(NODE_TYPE_MIME):
            return None
        return bytes(mime.data(NODE_TYPE_MIME).data()).decode("utf-8")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        node_type = self._node_type(event)
        if node_type is None:
            super().dragEnterEvent(event)
            return
        self._drop = PaletteDropInteraction(self.flow_scene, node_type)
        self.flow_scene.start_interaction(self._drop)
        self._drop.move(self.mapToScene(event.position().toPoint()))
        event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._drop is None:
            super().dragMoveEvent(event)
            return
        self._drop.move(self.mapToScene(event.position().toPoint()))
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        if self._drop is not None:
            self._drop.cancel()
            self._drop = None
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if self._drop is None:
            node_type = self._node_type(event)
            if node_type is None:
                super().dropEvent(event)
                return
            self._drop = PaletteDropInteraction(self.flow_scene, node_type)
            self.flow_scene.start_interaction(self._drop)
        drop, self._drop = self._drop, None
        node_id = drop.drop(self.mapToScene(event.position().toPoint()))
        event.acceptProposedAction()
        self.setFocus()
        self.nodeDropped.emit(node_id)

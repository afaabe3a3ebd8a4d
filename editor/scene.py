"""The canvas scene: a mirror of the document, plus the live validation overlay.

It keeps a map from node id to ``NodeItem`` and from ``Edge`` to
``EdgeItem``, building, updating and removing items only when the document
says so. Mouse presses start interactions; drags of nodes become one
``MoveNodes`` command on release.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QPainter, QTransform
from PySide6.QtWidgets import QGraphicsScene, QGraphicsSceneMouseEvent

from editor import style
from editor.commands import AddNode, MoveNodes
from editor.document import FlowDocument
from editor.interactions import Interaction, NewEdgeInteraction, RubberBandInteraction
from editor.items import EdgeItem, NodeItem, PortItem
from editor.summary import predecessors_map
from engine.flow.model import Edge, Node
from engine.flow.validate import Finding
from engine.nodes import registry


class FlowScene(QGraphicsScene):
    #: An edge the rules forbid was dropped: the message says why.
    refused = Signal(str)
    #: A node was double-clicked.
    nodeActivated = Signal(str)

    def __init__(self, doc: FlowDocument, parent: Any = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self._edges_of: dict[str, set[Edge]] = {}
        self.snap_to_grid = True
        self.interaction: Optional[Interaction] = None
        self.last_refusal: Optional[str] = None
        self._press_positions: dict[str, list] = {}
        self._has_rect = False
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        doc.reset.connect(self.rebuild)
        doc.nodeAdded.connect(self._on_node_added)
        doc.nodeRemoved.connect(self._on_node_removed)
        doc.edgeAdded.connect(self._on_edge_added)
        doc.edgeRemoved.connect(self._on_edge_removed)
        doc.settingChanged.connect(self._on_setting_changed)
        doc.extraChanged.connect(self._on_extra_changed)
        doc.findingsChanged.connect(self.apply_findings)
        self.rebuild()

    # -- mirror the model ------------------------------------------------
    def rebuild(self) -> None:
        if self.interaction is not None:
            self.interaction.cancel()
        self.clear()
        self.nodes.clear()
        self.edges.clear()
        self._edges_of.clear()
        for node in self.doc.flow.nodes:
            self._on_node_added(node.id)
        for edge in self.doc.flow.edges:
            self._on_edge_added(edge)
        self._has_rect = False
        self.make_room(self.content_rect())
        self.apply_findings()

    def _on_node_added(self, node_id: str) -> None:
        item = NodeItem(self, node_id)
        self.nodes[node_id] = item
        self.addItem(item)
        self.make_room(item.sceneBoundingRect())

    def _on_node_removed(self, node_id: str) -> None:
        item = self.nodes.pop(node_id, None)
        if item is not None:
            self.removeItem(item)
        self._edges_of.pop(node_id, None)

    def _on_edge_added(self, edge: Edge) -> None:
        if edge.source not in self.nodes or edge.target not in self.nodes:
            return  # a broken edge from a file: validation reports it
        self.nodes[edge.source].update()
        item = EdgeItem(self, edge)
        self.edges[edge] = item
        self._edges_of.setdefault(edge.source, set()).add(edge)
        self._edges_of.setdefault(edge.target, set()).add(edge)
        self.addItem(item)

    def _on_edge_removed(self, edge: Edge) -> None:
        item = self.edges.pop(edge, None)
        if item is not None:
            self.removeItem(item)
        for node_id in (edge.source, edge.target):
            self._edges_of.get(node_id, set()).discard(edge)
        if edge.source in self.nodes:
            self.nodes[edge.source].update()

    def _on_setting_changed(self, node_id: str, _key: str) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.refresh()

    def _on_extra_changed(self, node_id: str, key: str) -> None:
        item = self.nodes.get(node_id)
        if item is None:
            return
        if key == "position":
            item.sync_position()
        else:
            item.refresh()

    def make_room(self, rect: QRectF) -> None:
        """Keep a wide margin around the drawing so the view can pan past it."""
        margin = 1500
        rect = QRectF(0, 0, 800, 500) if rect.isNull() else rect
        current = self.sceneRect() if self._has_rect else QRectF()
        if not current.contains(rect.adjusted(-margin / 2, -margin / 2, margin / 2, margin / 2)):
            self._has_rect = True
            self.setSceneRect(current.united(rect.adjusted(-margin, -margin, margin, margin)))

    def node_item_moved(self, item: NodeItem) -> None:
        self.make_room(item.sceneBoundingRect())
        for edge in self._edges_of.get(item.node_id, ()):
            edge_item = self.edges.get(edge)
            if edge_item is not None:
                edge_item.adjust()

    # -- overlay ---------------------------------------------------------
    def apply_findings(self) -> None:
        """Mark nodes and edges with the findings that concern them.

        Also refreshes the captions that read more than their node (a
        condition's watched email, a window's campaign time zone), once per
        validation pass.
        """
        findings = self.doc.findings
        by_node: dict[str, list[Finding]] = {}
        by_edge: dict[tuple[str, str, str], list[Finding]] = {}
        loops: list[tuple[set[str], Finding]] = []
        for f in findings:
            for node_id in f.nodes or ((f.node,) if f.node else ()):
                by_node.setdefault(node_id, []).append(f)
            if f.edge is not None:
                by_edge.setdefault(f.edge, []).append(f)
            if f.code == "cycle":
                loops.append((set(f.nodes), f))
        for edge, item in self.edges.items():
            concerns = list(by_edge.get(edge.key(), []))
            concerns += [f for nodes, f in loops if edge.source in nodes and edge.target in nodes]
            item.set_findings(concerns)
        preds = predecessors_map(self.doc.flow)
        for node_id, item in self.nodes.items():
            item.set_findings(by_node.get(node_id, []))
            if item.view.caption_depends_on_graph():
                item.refresh(preds)

    def findings_for(self, node_id: str) -> list[Finding]:
        item = self.nodes.get(node_id)
        return list(item.findings) if item is not None else []

    # -- selection -------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        """Selected nodes in document order (so copies keep the file's order)."""
        selected = {i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)}
        return [n.id for n in self.doc.flow.nodes if n.id in selected]

    def selected_edges(self) -> list[Edge]:
        selected = {id(i.edge) for i in self.selectedItems() if isinstance(i, EdgeItem)}
        return [e for e in self.doc.flow.edges if id(e) in selected]

    def select_nodes(self, node_ids: list[str]) -> None:
        self.clearSelection()
        for node_id in node_ids:
            item = self.nodes.get(node_id)
            if item is not None:
                item.setSelected(True)

    # -- adding ----------------------------------------------------------
    def snapped(self, point: QPointF) -> QPointF:
        if not self.snap_to_grid:
            return point
        grid = style.GRID
        return QPointF(round(point.x() / grid) * grid, round(point.y() / grid) * grid)

    def free_spot(self, top_left: QPointF) -> QPointF:
        """Step down from ``top_left`` until the new step would overlap no other."""
        point = self.snapped(top_left)
        rects = [i.mapRectToScene(i.node_rect()) for i in self.nodes.values()]
        size = QRectF(0, 0, style.NODE_WIDTH, style.NODE_HEIGHT)
        for _ in range(200):
            wanted = size.translated(point).adjusted(-8, -8, 8, 8)
            if not any(wanted.intersects(r) for r in rects):
                break
            point += QPointF(0, style.NODE_HEIGHT + 2 * style.GRID)
        return point

    def add_node(self, node_type: str, top_left: QPointF) -> str:
        """Push an ``AddNode`` for a fresh step at ``top_left`` (with its type's default
        settings and id prefix); select it; return its id."""
        flow = self.doc.flow
        kind = registry.node_type(node_type)
        node_id = flow.new_node_id(kind.id_prefix)
        point = self.free_spot(top_left)
        node = Node(node_id, node_type, kind.defaults(), {"position": [_num(point.x()), _num(point.y())]})
        self.doc.undo_stack.push(AddNode(self.doc, node))
        self.select_nodes([node_id])
        return node_id

    # -- interactions ----------------------------------------------------
    def start_interaction(self, interaction: Interaction) -> None:
        if self.interaction is not None:
            self.interaction.cancel()
        self.interaction = interaction

    def interaction_finished(self, interaction: Interaction) -> None:
        if self.interaction is interaction:
            self.interaction = None

    def report_refusal(self, message: str) -> None:
        self.last_refusal = message
        self.refused.emit(message)

    def _view_transform(self) -> QTransform:
        views = self.views()
        return views[0].transform() if views else QTransform()

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.interaction is not None:
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            item = self.itemAt(event.scenePos(), self._view_transform())
            if isinstance(item, PortItem):
                self.start_interaction(NewEdgeInteraction(self, item))
                event.accept()
                return
            if item is None:
                extend = bool(event.modifiers() & (Qt.KeyboardModifier.ShiftModifier
                                                   | Qt.KeyboardModifier.ControlModifier))
                self.start_interaction(RubberBandInteraction(self, event.scenePos(), extend))
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and isinstance(self.mouseGrabberItem(), NodeItem):
            self._press_positions = {i.node_id: [_num(i.pos().x()), _num(i.pos().y())]
                                     for i in self.selectedItems() if isinstance(i, NodeItem)}

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.interaction is not None:
            self.interaction.mouse_move(event)
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.interaction is not None:
            self.interaction.mouse_release(event)
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._press_positions:
            self.commit_moves(self._press_positions)
            self._press_positions = {}

    def commit_moves(self, before: dict[str, list], nudge: bool = False) -> None:
        """One ``MoveNodes`` for every node whose item moved since ``before``."""
        moves = {}
        for node_id, old in before.items():
            item = self.nodes.get(node_id)
            if item is None:
                continue
            new = [_num(item.pos().x()), _num(item.pos().y())]
            if new != old:
                moves[node_id] = (item.model_position(), new)
        if moves:
            self.doc.undo_stack.push(MoveNodes(self.doc, moves, nudge=nudge))

    def nudge_selection(self, dx: float, dy: float) -> None:
        items = [i for i in self.selectedItems() if isinstance(i, NodeItem)]
        if not items:
            return
        before = {i.node_id: [_num(i.pos().x()), _num(i.pos().y())] for i in items}
        for item in items:
            item.setPos(item.pos() + QPointF(dx, dy))
        self.commit_moves(before, nudge=True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.interaction is not None:
            self.interaction.cancel()
            event.accept()
            return
        step = style.GRID if self.snap_to_grid else 1
        arrows = {Qt.Key.Key_Left: (-step, 0), Qt.Key.Key_Right: (step, 0),
                  Qt.Key.Key_Up: (0, -step), Qt.Key.Key_Down: (0, step)}
        if event.key() in arrows and self.selected_node_ids() and self.focusItem() is None:
            self.nudge_selection(*arrows[event.key()])
            event.accept()
            return
        super().keyPressEvent(event)

    # -- looks -----------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, style.CANVAS)
        scale = painter.worldTransform().m11()
        step = style.GRID
        while step * scale < 14:
            step *= 5
        left = int(rect.left() // step) * step
        top = int(rect.top() // step) * step
        points = []
        y = top
        while y < rect.bottom():
            x = left
            while x < rect.right():
                points.append(QPointF(x, y))
                x += step
            y += step
        painter.setPen(style.GRID_DOT)
        painter.drawPoints(points)

    def content_rect(self) -> QRectF:
        """The rectangle the nodes cover (their notes and messages included)."""
        rect = QRectF()
        for item in self.nodes.values():
            rect = rect.united(item.mapRectToScene(item.node_rect().adjusted(-10, -24, 40, 40)))
        return rect

    def edges_from(self, node_id: str) -> list[Edge]:
        return [e for e in self._edges_of.get(node_id, ()) if e.source == node_id]


def _num(value: float) -> float | int:
    """Positions are saved as plain ints when they are whole (they are, on the grid)."""
    return int(value) if float(value).is_integer() else round(value, 2)

"""Every edit the user makes, as a ``QUndoCommand`` on the document's one stack.

Commands change the model only through ``Flow``'s methods, so the scene and
the inspector hear of undo and redo exactly as of the original edit. Undo
puts nodes, edges and keys back where they were, so an undone edit saves
byte for byte the same file as before (after Orange's ``document/commands.py``).
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from PySide6.QtGui import QUndoCommand

from editor.document import FlowDocument
from engine.flow.model import Edge, Node


class Macro(QUndoCommand):
    """One undo step made of several commands (delete, paste, duplicate).

    The parts are kept in Python and run in order (undone in reverse), not
    as Qt child commands: PySide does not hand a child's ownership to its
    parent command, so the parent and the Python wrapper would both free it.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.parts: list[QUndoCommand] = []

    def add(self, command: QUndoCommand) -> QUndoCommand:
        self.parts.append(command)
        return command

    def redo(self) -> None:
        for part in self.parts:
            part.redo()

    def undo(self) -> None:
        for part in reversed(self.parts):
            part.undo()


MOVE_ID = 1001
SETTING_ID = 1002
EXTRA_ID = 1003

Position = Optional[list[float]]


def _restore_order(mapping: dict[str, Any], order: list[str]) -> None:
    """Put a dict's keys back in their saved order (values untouched)."""
    items = dict(mapping)
    mapping.clear()
    for key in order:
        if key in items:
            mapping[key] = items.pop(key)
    mapping.update(items)


class AddNode(QUndoCommand):
    def __init__(self, doc: FlowDocument, node: Node) -> None:
        super().__init__(f"Add {node.type}")
        self.doc = doc
        self.node = node

    def redo(self) -> None:
        self.doc.flow.add_node(self.node)

    def undo(self) -> None:
        self.doc.flow.remove_node(self.node.id)


class Connect(QUndoCommand):
    def __init__(self, doc: FlowDocument, source: str, port: str, target: str,
                 check: bool = True) -> None:
        super().__init__("Connect")
        self.doc = doc
        self.edge = Edge(source, target, port)
        self.check = check

    def redo(self) -> None:
        self.doc.flow.add_edge(self.edge, check=self.check)
        self.check = False  # a redo replays a state where it was already allowed

    def undo(self) -> None:
        self.doc.flow.remove_edge(self.edge)


class Disconnect(QUndoCommand):
    def __init__(self, doc: FlowDocument, edge: Edge) -> None:
        super().__init__("Disconnect")
        self.doc = doc
        self.edge = edge
        self.index = -1

    def redo(self) -> None:
        self.index = self.doc.edge_index(self.edge)
        self.doc.flow.remove_edge(self.edge)

    def undo(self) -> None:
        self.doc.flow.add_edge(self.edge, check=False, index=self.index)


class RemoveNode(QUndoCommand):
    """Remove a node; its edges are removed first by its ``Disconnect`` parts.

    ``claimed`` lets one delete of several nodes share the edges between them.
    """

    def __init__(self, doc: FlowDocument, node_id: str, claimed: Optional[set[int]] = None) -> None:
        super().__init__("Delete step")
        self.doc = doc
        self.node = doc.node(node_id)
        self.index = -1
        self.parts: list[Disconnect] = []
        claimed = claimed if claimed is not None else set()
        for edge in doc.flow.edges:
            if node_id in (edge.source, edge.target) and id(edge) not in claimed:
                claimed.add(id(edge))
                self.parts.append(Disconnect(doc, edge))

    def redo(self) -> None:
        for part in self.parts:
            part.redo()
        self.index = self.doc.node_index(self.node.id)
        self.doc.flow.remove_node(self.node.id)

    def undo(self) -> None:
        self.doc.flow.add_node(self.node, index=self.index)
        for part in reversed(self.parts):
            part.undo()


class SetSetting(QUndoCommand):
    """Set one logic setting (None removes it); ``typing`` edits of one field merge."""

    def __init__(self, doc: FlowDocument, node_id: str, key: str, value: Any, typing: bool = False) -> None:
        super().__init__(f"Edit {key}")
        self.doc = doc
        self.node_id = node_id
        self.key = key
        self.value = copy.deepcopy(value)
        node = doc.node(node_id)
        self.old = copy.deepcopy(node.settings.get(key))
        self.order = list(node.settings)
        self.typing = typing

    def id(self) -> int:
        return SETTING_ID

    def redo(self) -> None:
        self.doc.flow.set_setting(self.node_id, self.key, self.value)

    def undo(self) -> None:
        flow = self.doc.flow
        flow.set_setting(self.node_id, self.key, self.old)
        _restore_order(flow.node(self.node_id).settings, self.order)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, SetSetting) and self.typing and other.typing
                and other.node_id == self.node_id and other.key == self.key):
            return False
        self.value = other.value
        self.setObsolete(self.value == self.old)
        return True


class SetExtra(QUndoCommand):
    """Set a layout field such as the note (None removes it); typing merges."""

    def __init__(self, doc: FlowDocument, node_id: str, key: str, value: Any, typing: bool = False,
                 text: str = "") -> None:
        super().__init__(text or f"Edit {key}")
        self.doc = doc
        self.node_id = node_id
        self.key = key
        self.value = copy.deepcopy(value)
        node = doc.node(node_id)
        self.old = copy.deepcopy(node.extra.get(key))
        self.order = list(node.extra)
        self.typing = typing

    def id(self) -> int:
        return EXTRA_ID

    def redo(self) -> None:
        self.doc.flow.set_extra(self.node_id, self.key, self.value)

    def undo(self) -> None:
        flow = self.doc.flow
        flow.set_extra(self.node_id, self.key, self.old)
        _restore_order(flow.node(self.node_id).extra, self.order)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, SetExtra) and self.typing and other.typing
                and other.node_id == self.node_id and other.key == self.key):
            return False
        self.value = other.value
        self.setObsolete(self.value == self.old)
        return True


def SetNote(doc: FlowDocument, node_id: str, note: Optional[str], typing: bool = True) -> SetExtra:
    """The note shown above a node and saved beside it in the file."""
    return SetExtra(doc, node_id, "note", note or None, typing=typing, text="Edit note")


class MoveNodes(QUndoCommand):
    """Move nodes from old to new positions: one command per drag (pushed on release).

    Keyboard nudges of the same selection (``nudge=True``) merge into one step.
    """

    def __init__(self, doc: FlowDocument, moves: dict[str, tuple[Position, Position]],
                 nudge: bool = False, text: str = "") -> None:
        count = len(moves)
        super().__init__(text or (f"Move {count} steps" if count > 1 else "Move step"))
        self.doc = doc
        self.moves = {k: (copy.deepcopy(a), copy.deepcopy(b)) for k, (a, b) in moves.items()}
        self.nudge = nudge

    def id(self) -> int:
        return MOVE_ID

    def redo(self) -> None:
        for node_id, (_old, new) in self.moves.items():
            self.doc.flow.set_extra(node_id, "position", new)

    def undo(self) -> None:
        for node_id, (old, _new) in self.moves.items():
            self.doc.flow.set_extra(node_id, "position", old)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, MoveNodes) and self.nudge and other.nudge
                and set(other.moves) == set(self.moves)):
            return False
        self.moves = {k: (self.moves[k][0], other.moves[k][1]) for k in self.moves}
        return True


class SetName(QUndoCommand):
    def __init__(self, doc: FlowDocument, name: str) -> None:
        super().__init__("Rename campaign")
        self.doc = doc
        self.name = name
        self.old = doc.flow.name

    def id(self) -> int:
        return SETTING_ID + 10

    def redo(self) -> None:
        self.doc.flow.set_name(self.name)

    def undo(self) -> None:
        self.doc.flow.set_name(self.old)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetName):
            return False
        self.name = other.name
        self.setObsolete(self.name == self.old)
        return True


def delete_command(doc: FlowDocument, node_ids: list[str], edges: list[Edge]) -> Optional[Macro]:
    """One undo step that removes the given edges and nodes (with their edges)."""
    if not node_ids and not edges:
        return None
    count = len(node_ids) + len(edges)
    macro = Macro(f"Delete {count} items" if count > 1 else "Delete")
    removing = set(node_ids)
    claimed: set[int] = set()
    for edge in edges:
        if edge.source not in removing and edge.target not in removing and id(edge) not in claimed:
            claimed.add(id(edge))
            macro.add(Disconnect(doc, edge))
    for node_id in node_ids:
        macro.add(RemoveNode(doc, node_id, claimed))
    return macro


class SetFlowField(QUndoCommand):
    """Set one top-level field of the flow (``theme``, ``timezone``, ``goal``; None
    removes it); typing edits of the same field merge into one undo step."""

    def __init__(self, doc: FlowDocument, key: str, value: Any, text: str = "", typing: bool = False) -> None:
        super().__init__(text or f"Edit the campaign's {key}")
        self.doc = doc
        self.key = key
        self.value = copy.deepcopy(value)
        self.old = copy.deepcopy(doc.flow.extra.get(key))
        self.order = list(doc.flow.extra)
        self.typing = typing

    def id(self) -> int:
        return SETTING_ID + 20

    def _apply(self, value: Any) -> None:
        if value is not None:
            self.doc.flow.extra[self.key] = copy.deepcopy(value)
        else:
            self.doc.flow.extra.pop(self.key, None)
        self.doc.flow.changed.emit()

    def redo(self) -> None:
        self._apply(self.value)

    def undo(self) -> None:
        self._apply(self.old)
        _restore_order(self.doc.flow.extra, self.order)

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, SetFlowField) and self.typing and other.typing and other.key == self.key):
            return False
        self.value = other.value
        self.setObsolete(self.value == self.old)
        return True

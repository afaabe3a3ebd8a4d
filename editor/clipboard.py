"""Copy, paste and duplicate: a selection with its inner edges, pasted with fresh ids.

The system clipboard takes the ``QMimeData`` made here. Qt deletes it when
the application object goes, after Python's wrapper has been torn down; the
editor then ended with a segfault after any copy. ``put_on_clipboard`` keeps
the handover and ``release_clipboard`` clears the clipboard before the
application quits (``aboutToQuit``) or, for an application that never ran its
event loop (tests, scripts), when the interpreter exits; Qt then deletes the
data while both sides still agree who owns it.
"""

from __future__ import annotations

import atexit
import copy
import json
from typing import Any, Optional

from PySide6.QtCore import QCoreApplication, QMimeData
from PySide6.QtGui import QGuiApplication, QUndoCommand

from editor import style
from editor.commands import AddNode, Connect, Macro
from editor.document import FlowDocument
from engine.flow.fileformat import FlowFileError, flow_from_data
from engine.flow.model import FORMAT, Edge, Flow, Node
from engine.nodes.registry import node_type

MIME = "application/x-mailbranch-steps"
#: How far a paste lands from the original.
OFFSET = 2 * style.GRID


def selection_data(flow: Flow, node_ids: list[str]) -> dict[str, Any]:
    """The steps and the edges between them, in the flow file's shape."""
    chosen = set(node_ids)
    nodes = [{"id": n.id, "type": n.type, **copy.deepcopy(n.settings), **copy.deepcopy(n.extra)}
             for n in flow.nodes if n.id in chosen]
    edges = [{"from": e.source, "port": e.port, "to": e.target} for e in flow.edges
             if e.source in chosen and e.target in chosen]
    return {"format": FORMAT, "nodes": nodes, "edges": edges}


def to_mime(data: dict[str, Any]) -> QMimeData:
    mime = QMimeData()
    text = json.dumps(data, indent=2, ensure_ascii=False)
    mime.setData(MIME, text.encode("utf-8"))
    mime.setText(text)
    return mime


_handed: Optional[QMimeData] = None
_release_hooked = False


def put_on_clipboard(data: dict[str, Any]) -> None:
    """Put copied steps on the system clipboard, to be cleared again on quit (see the module doc)."""
    global _handed, _release_hooked
    mime = to_mime(data)
    QGuiApplication.clipboard().setMimeData(mime)
    _handed = mime
    if not _release_hooked:
        _release_hooked = True
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(release_clipboard)
        atexit.register(release_clipboard)


def release_clipboard() -> None:
    """Clear the clipboard if it still holds the data this process put there."""
    global _handed
    handed, _handed = _handed, None
    if handed is None or QGuiApplication.instance() is None:
        return
    clipboard = QGuiApplication.clipboard()
    if clipboard.mimeData() is handed:
        clipboard.clear()


def from_mime(mime: Optional[QMimeData]) -> Optional[dict[str, Any]]:
    if mime is None:
        return None
    if mime.hasFormat(MIME):
        raw = bytes(mime.data(MIME).data()).decode("utf-8")
    elif mime.hasText():
        raw = mime.text()
    else:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("nodes"), list):
        return None
    return data


def paste_command(doc: FlowDocument, data: dict[str, Any], offset: float = OFFSET,
                  text: str = "Paste") -> tuple[Optional[QUndoCommand], list[str]]:
    """A macro adding the copied steps (fresh ids, moved by ``offset``) and their edges.

    A condition that watched a copied email watches the copy; one that
    watched an email outside the copy keeps watching it.
    """
    flow = doc.flow
    taken = {n.id for n in flow.nodes}
    renamed: dict[str, str] = {}
    nodes: list[Node] = []
    for node in _read_nodes(data):
        prefix = node_type(node.type).id_prefix
        i = 1
        while f"{prefix}{i}" in taken:
            i += 1
        new_id = f"{prefix}{i}"
        taken.add(new_id)
        renamed[node.id] = new_id
        position = node.extra.get("position")
        if isinstance(position, list) and len(position) == 2:
            node.extra["position"] = [position[0] + offset, position[1] + offset]
        nodes.append(Node(new_id, node.type, node.settings, node.extra))
    if not nodes:
        return None, []
    macro = Macro(f"{text} {len(nodes)} step{'s' if len(nodes) != 1 else ''}")
    for node in nodes:
        for setting in node_type(node.type).settings:  # a step naming a copied step names its copy
            if setting.kind == "email" and node.settings.get(setting.key) in renamed:
                node.settings[setting.key] = renamed[node.settings[setting.key]]
        macro.add(AddNode(doc, node))
    for raw in data.get("edges", []):
        if not isinstance(raw, dict):
            continue
        source, target = renamed.get(raw.get("from")), renamed.get(raw.get("to"))
        if source and target:
            macro.add(Connect(doc, source, str(raw.get("port") or "next"), target, check=False))
    return macro, [n.id for n in nodes]


def _read_nodes(data: dict[str, Any]) -> list[Node]:
    """The copied steps, read by the file format's own reader (unknown fields kept)."""
    nodes = []
    for raw in data.get("nodes", []):
        try:
            nodes.extend(flow_from_data({"format": FORMAT, "nodes": [raw], "edges": []}).nodes)
        except FlowFileError:
            continue
    return nodes


def edges_between(flow: Flow, node_ids: list[str]) -> list[Edge]:
    chosen = set(node_ids)
    return [e for e in flow.edges if e.source in chosen and e.target in chosen]

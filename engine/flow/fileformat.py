"""Reading and writing ``mailbranch.flow/1`` files.

Readers ignore fields they do not know and keep them, so layout, colours and
notes written by the editor (or by hand) survive a load-save round trip. A
broken file raises ``FlowFileError`` with one sentence naming the place (node
id, field); it never escapes as a traceback. Versions migrate through
``MIGRATIONS``, so ``/1`` files keep opening when ``/2`` exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from engine.flow.model import FORMAT, NODE_TYPES, SETTINGS, Edge, Flow, Node

_TYPE_WORDS = {str: "text", int: "a number", float: "a number", list: "a list", dict: "an object"}

#: Migrations keyed by the version they read, each returning the next version's data.
MIGRATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class FlowFileError(ValueError):
    """A flow file that cannot be read; ``str(error)`` says where and why."""


def load_flow(path: Union[str, Path]) -> Flow:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FlowFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowFileError(f"{path}: cannot be read ({exc})") from None
    try:
        return loads_flow(text)
    except FlowFileError as exc:
        raise FlowFileError(f"{path}: {exc}") from None


def loads_flow(text: str) -> Flow:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowFileError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return flow_from_data(data)


def flow_from_data(data: Any) -> Flow:
    if not isinstance(data, dict):
        raise FlowFileError("the file must hold a JSON object with 'format', 'nodes' and 'edges'")
    fmt = data.get("format")
    while fmt in MIGRATIONS:
        data = MIGRATIONS[fmt](data)
        fmt = data.get("format")
    if fmt != FORMAT:
        raise FlowFileError(f"unknown format {fmt!r}; expected {FORMAT!r}")
    name = data.get("name", "Untitled campaign")
    if not isinstance(name, str):
        raise FlowFileError("field 'name' must be text")
    raw_nodes = data.get("nodes")
    raw_edges = data.get("edges", [])
    if not isinstance(raw_nodes, list):
        raise FlowFileError("field 'nodes' must be a list")
    if not isinstance(raw_edges, list):
        raise FlowFileError("field 'edges' must be a list")
    nodes: list[Node] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_nodes):
        node = _node_from_data(raw, index)
        if node.id in seen:
            raise FlowFileError(f"node '{node.id}': the id is used twice")
        seen.add(node.id)
        nodes.append(node)
    edges = [_edge_from_data(raw, index) for index, raw in enumerate(raw_edges)]
    flow = Flow.build(name, nodes, edges)
    flow.extra = {k: v for k, v in data.items() if k not in ("format", "name", "nodes", "edges")}
    return flow


def _node_from_data(raw: Any, index: int) -> Node:
    where = f"nodes[{index}]"
    if not isinstance(raw, dict):
        raise FlowFileError(f"{where}: each node must be an object with 'id' and 'type'")
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id:
        raise FlowFileError(f"{where}: field 'id' must be non-empty text")
    where = f"node '{node_id}'"
    node_type = raw.get("type")
    if not isinstance(node_type, str):
        raise FlowFileError(f"{where}: field 'type' must be text, one of {', '.join(NODE_TYPES)}")
    if node_type not in NODE_TYPES:
        raise FlowFileError(f"{where}: unknown node type '{node_type}'; expected one of {', '.join(NODE_TYPES)}")
    known = SETTINGS[node_type]
    settings: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("id", "type"):
            continue
        if key in known:
            if value is None:
                continue
            types = known[key]
            if isinstance(value, bool) or not isinstance(value, types):
                words = " or ".join(dict.fromkeys(_TYPE_WORDS[t] for t in types))
                raise FlowFileError(f"{where}: field '{key}' must be {words}")
            settings[key] = value
        else:
            extra[key] = value
    return Node(node_id, node_type, settings, extra)


def _edge_from_data(raw: Any, index: int) -> Edge:
    where = f"edges[{index}]"
    if not isinstance(raw, dict):
        raise FlowFileError(f"{where}: each edge must be an object with 'from' and 'to'")
    for key in ("from", "to"):
        if not isinstance(raw.get(key), str):
            raise FlowFileError(f"{where}: field '{key}' must be a node id (text)")
    port = raw.get("port", "next")
    if not isinstance(port, str):
        raise FlowFileError(f"{where} (from '{raw['from']}'): field 'port' must be text")
    extra = {k: v for k, v in raw.items() if k not in ("from", "to", "port")}
    return Edge(raw["from"], raw["to"], port, extra)


def flow_to_data(flow: Flow) -> dict[str, Any]:
    nodes = []
    for n in flow.nodes:
        nodes.append({"id": n.id, "type": n.type, **n.settings, **n.extra})
    edges = []
    for e in flow.edges:
        item: dict[str, Any] = {"from": e.source}
        if e.port != "next":
            item["port"] = e.port
        item["to"] = e.target
        item.update(e.extra)
        edges.append(item)
    return {"format": FORMAT, "name": flow.name, **flow.extra, "nodes": nodes, "edges": edges}


def dumps_flow(flow: Flow) -> str:
    return json.dumps(flow_to_data(flow), indent=2, ensure_ascii=False) + "\n"


def save_flow(flow: Flow, path: Union[str, Path]) -> None:
    """Write atomically: a crash while saving never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps_flow(flow), encoding="utf-8")
    tmp.replace(path)

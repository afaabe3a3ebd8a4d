"""Reading and writing ``mailbranch.flow/1`` files.

Readers ignore fields they do not know and keep them, so layout, colours and
notes written by the editor (or by hand) survive a load-save round trip. A
broken file raises ``FlowFileError`` with one sentence naming the place (node
id, field); it never escapes as a traceback. Versions migrate through
``MIGRATIONS``, so ``/1`` files keep opening when ``/2`` exists.

What the file format itself needs is checked here, so that nothing later can
crash on it: JSON nested deeper than ``MAX_DEPTH`` (Python's parser and every
recursive walk would otherwise hit ``RecursionError``), numbers Python cannot
read, and ids, types and ports that are not valid Unicode (they end up in the
database and in Message-IDs). Odd text elsewhere (a subject, a note) is
validation's to report, as a finding on the node that holds it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from engine.flow.model import FORMAT, Edge, Flow, Node, node_types
from engine.flow.text import bad_character, shown
from engine.nodes.registry import is_registered
from engine.nodes.registry import node_type as type_of

_TYPE_WORDS = {str: "text", int: "a number", float: "a number", list: "a list", dict: "an object",
               bool: "true or false"}

#: Migrations keyed by the version they read, each returning the next version's data.
MIGRATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}

#: How deeply lists and objects may nest in a flow file. A real flow needs
#: about five levels; the bound stops a hostile file before any recursion.
MAX_DEPTH = 64


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
    _check_nesting(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowFileError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except ValueError:  # an integer of thousands of digits: Python refuses to read it
        raise FlowFileError("not valid JSON: it holds a number with more than 4,300 digits") from None
    except RecursionError:  # pragma: no cover - _check_nesting stops such files first
        raise FlowFileError(_TOO_DEEP) from None
    return flow_from_data(data)


_TOO_DEEP = f"lists and objects are nested more than {MAX_DEPTH} levels deep; a flow file never needs that"
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_nesting(text: str) -> None:
    """Refuse text nested deeper than ``MAX_DEPTH`` before parsing it.

    Strings are skipped whole by the regular expression, so brackets inside
    them do not count, and only brackets cost a step of Python.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for match in _STRUCTURE.finditer(text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                raise FlowFileError(f"{_TOO_DEEP} (line {line})")
        elif char in "]}":
            depth -= 1


def _depth_within(value: Any, limit: int) -> bool:
    """True if ``value`` nests at most ``limit`` lists and objects deep (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                return False
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return True


def flow_from_data(data: Any) -> Flow:
    if not isinstance(data, dict):
        raise FlowFileError("the file must hold a JSON object with 'format', 'nodes' and 'edges'")
    if not _depth_within(data, MAX_DEPTH):
        raise FlowFileError(_TOO_DEEP)
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
    _check_id(node_id, f"{where}: the id '{shown(node_id)}'")
    where = f"node '{node_id}'"
    node_type = raw.get("type")
    if not isinstance(node_type, str):
        raise FlowFileError(f"{where}: field 'type' must be text, one of {', '.join(node_types())}")
    if not is_registered(node_type):
        raise FlowFileError(f"{where}: unknown node type '{shown(node_type)}'; expected one of "
                            f"{', '.join(node_types())}")
    known = type_of(node_type).accepted()
    settings: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("id", "type"):
            continue
        if key in known:
            if value is None:
                continue
            types = known[key]
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
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
        _check_id(raw[key], f"{where}: field '{key}' ('{shown(raw[key])}')")
    port = raw.get("port", "next")
    if not isinstance(port, str):
        raise FlowFileError(f"{where} (from '{raw['from']}'): field 'port' must be text")
    _check_id(port, f"{where} (from '{raw['from']}'): field 'port' ('{shown(port)}')")
    extra = {k: v for k, v in raw.items() if k not in ("from", "to", "port")}
    return Edge(raw["from"], raw["to"], port, extra)


def _check_id(value: str, where: str) -> None:
    """Ids name rows, Message-IDs and tracking tokens, so they must be valid Unicode."""
    position = bad_character(value)
    if position is not None:
        raise FlowFileError(f"{where} holds an invalid character (half of a UTF-16 pair, "
                            f"\\u{ord(value[position]):04x}) at position {position + 1}; ids must be "
                            "plain text")


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
    """The file's text. Readable UTF-8, unless the flow still holds a lone surrogate
    that validation reports: then every non-ASCII character is escaped, so that
    saving never fails and the file reads back exactly as it was."""
    data = flow_to_data(flow)
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if bad_character(text) is not None:
        text = json.dumps(data, indent=2)
    return text + "\n"


def save_flow(flow: Flow, path: Union[str, Path]) -> None:
    """Write atomically: a crash while saving never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps_flow(flow), encoding="utf-8")
    tmp.replace(path)

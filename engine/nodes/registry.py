"""The node types a flow may use, by the name the flow file gives them.

Built-in types register when ``engine.nodes`` is imported; a new type is one
module with a ``NodeType`` subclass and one ``register`` call (see
``docs/adding-a-node-type.md``). Asking for a name that is not registered
gets the ``UNKNOWN`` descriptor, which has no ports and runs nothing, so a
file with an unknown type can still be read by code that only draws it.
"""

from __future__ import annotations

from engine.nodes.base import NodeType

_TYPES: dict[str, NodeType] = {}


def register(descriptor: NodeType) -> NodeType:
    if not descriptor.name:
        raise ValueError("a node type needs a name")
    if descriptor.name in _TYPES and type(_TYPES[descriptor.name]) is not type(descriptor):
        raise ValueError(f"the node type '{descriptor.name}' is registered twice")
    _TYPES[descriptor.name] = descriptor
    return descriptor


class _Unknown(NodeType):
    name = "unknown"
    title = "Unknown step"
    fixed_ports = ()


UNKNOWN = _Unknown()


def node_type(name: str) -> NodeType:
    """The descriptor of ``name`` (``UNKNOWN`` if there is none)."""
    return _TYPES.get(name, UNKNOWN)


def is_registered(name: str) -> bool:
    return name in _TYPES


def node_types() -> tuple[NodeType, ...]:
    """Every registered type, in palette order."""
    return tuple(sorted(_TYPES.values(), key=lambda d: (d.palette_order, d.name)))


def type_names() -> tuple[str, ...]:
    return tuple(d.name for d in node_types())

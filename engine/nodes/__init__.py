"""Node types: one descriptor per type, asked by everything that handles nodes.

Importing this package registers the built-in types (``engine/nodes/*.py``);
see ``registry.py`` for how to ask and ``docs/adding-a-node-type.md`` for how
to add one.
"""

from engine.nodes import check, condition, email, end, split, start, wait, window  # noqa: F401
from engine.nodes.base import NodeType, Port, Role, Setting
from engine.nodes.registry import node_type, node_types, register, type_names

__all__ = ["NodeType", "Port", "Role", "Setting", "node_type", "node_types", "register", "type_names"]

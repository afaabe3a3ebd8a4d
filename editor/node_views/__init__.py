"""How each node type looks in the editor: one view descriptor module per type.

Importing this package registers the built-in views. ``view_for(type)`` is
what the palette, the canvas and the inspector ask; see
``docs/adding-a-node-type.md`` for adding a type.
"""

from editor.node_views import check, condition, email, end, split, start, wait, window  # noqa: F401
from editor.node_views.base import NodeView, register_view, view_for, views

__all__ = ["NodeView", "register_view", "view_for", "views"]

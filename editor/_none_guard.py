"""Keep ``None``, ``True`` and ``False`` alive under PySide6 6.12 on Python 3.11.

PySide6 6.12.0's generated wrappers release one reference to ``None`` too
many on many void methods (``QPainter.drawRoundedRect``, ``setPen``,
``QSvgRenderer.render``...). On Python 3.12+ ``None`` is immortal, so the
bug is invisible; on 3.11 every paint lowers ``None``'s reference count
until the interpreter aborts with "deallocating None" (a few hundred node
paints are enough). Python overrides returning a bool (``eventFilter``)
do the same to ``True``/``False``. Until a fixed PySide6 is pinned, give
these singletons a reference count they cannot run down, which is what 3.12
does natively (they are immortal there).
"""

from __future__ import annotations

import ctypes
import sys

_MARGIN = 1 << 40


def guard_none() -> None:
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt is the first field
        if refcount.value < _MARGIN:
            refcount.value += _MARGIN


guard_none()

"""What the editor and app tests do to widgets, done the way a user does it."""

from __future__ import annotations


def choose(combo, data) -> None:
    """Pick the entry whose data is ``data`` in a combo box, as a click would (``activated`` too)."""
    index = combo.findData(data)
    assert index >= 0, f"{data!r} is not offered"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def shown_and_refreshed(qtbot, loop, widget, width: int, height: int):
    """``widget`` on screen at that size, after its first ``refresh()`` from the engine has run."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    loop.run_until_complete(widget.refresh())
    return widget

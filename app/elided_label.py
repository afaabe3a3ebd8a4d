"""A one-line label that gives up width before the window does.

A plain ``QLabel`` asks for its whole text as its minimum width, so a long
campaign name or clock line can push a window wider than a laptop screen.
This one shortens its text with "…" to the room it gets and shows the whole
text in its tooltip.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QTextDocumentFragment
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

#: The least room the label keeps: about ten characters.
MIN_CHARS = 10


class ElidedLabel(QLabel):
    def __init__(self, text: str = "", parent: Optional[QWidget] = None, min_chars: int = MIN_CHARS) -> None:
        super().__init__(parent)
        self._min_chars = min_chars
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        self._full = text
        super().setText(text)
        self.setToolTip(self.plain_text() if self.plain_text() != self.shown_text() else "")

    def full_text(self) -> str:
        return self._full

    def plain_text(self) -> str:
        """The text without markup (``<b>`` in a campaign name)."""
        if "<" in self._full:
            return QTextDocumentFragment.fromHtml(self._full).toPlainText()
        return self._full

    def shown_text(self) -> str:
        """What the label shows in the room it has now."""
        room = self.contentsRect().width()
        return self.fontMetrics().elidedText(self.plain_text(), Qt.TextElideMode.ElideRight, max(0, room))

    def is_elided(self) -> bool:
        return self.shown_text() != self.plain_text()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * self._min_chars), hint.height())

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        super().resizeEvent(event)
        self.setToolTip(self.plain_text() if self.is_elided() else "")

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        if not self.is_elided():
            super().paintEvent(event)
            return
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.setFont(self.font())
        painter.drawText(self.contentsRect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter),
                         self.shown_text())
        painter.end()

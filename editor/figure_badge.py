"""The white badge of figure lines drawn beside a step: the run's counts under it (the app's run
overlay) and an edit's impact above it (the editor's impact marks) look and measure alike."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen

from editor import style

PAD = 5.0


class BadgeText:
    """The badge's font, and how its lines are measured and painted."""

    def __init__(self) -> None:
        self.font = style.font(11, QFont.Weight.DemiBold)
        self.metrics = QFontMetricsF(self.font)

    def size(self, lines: list[str]) -> tuple[float, float]:
        """Width and height of a badge holding ``lines``, one a row, padded."""
        width = max([self.metrics.horizontalAdvance(x) for x in lines] + [40.0]) + 2 * PAD
        return width, self.metrics.height() * len(lines) + 2 * PAD - 2

    def paint(self, painter: QPainter, box: QRectF, lines: list[str], border: QPen) -> None:
        """A white rounded box with ``border`` round it and ``lines`` inside, one a row."""
        painter.setPen(border)
        painter.setBrush(QColor("#FFFFFF"))
        painter.drawRoundedRect(box, 6, 6)
        painter.setFont(self.font)
        painter.setPen(style.TEXT)
        y = box.top() + PAD
        for line in lines:
            painter.drawText(QRectF(box.left() + PAD, y, box.width(), self.metrics.height()),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, line)
            y += self.metrics.height()

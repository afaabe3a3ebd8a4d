"""The impact preview drawn on a canvas, node by node (SEMANTICS 11).

While the marketer looks at what publishing an edit would do, each step it
touches gets a coloured outline and a badge above it with its figures: how
many tokens stand on it and where a removed step's tokens go, how many
waits are re-timed, how many listeners follow or stop, how many leads would
now get or lose its email. A removed step is not on the edited flow's
canvas: it is drawn there as a dashed ghost where it stood in the running
flow. ``ImpactMarks.show(impact, running_flow)`` takes the engine's preview
answer as it is; ``clear()`` takes every mark away. Like the run overlay, the
marks only draw: the canvas items keep drawing the model.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget
from shiboken6 import isValid

from editor.figure_badge import BadgeText
from editor.node_views import view_for
from editor.scene import FlowScene
from engine.flow.model import Flow

#: Outline colour by what the edit does to a step.
COLORS = {"removed": QColor("#D92D20"), "added": QColor("#16A34A"), "re-timed": QColor("#DC8A03"),
          "changed": QColor("#7C3AED"), "content": QColor("#2E6BE6"), "rewired": QColor("#7C3AED"),
          "same": QColor("#667085")}
WORDS = {"removed": "removed", "added": "new step", "re-timed": "new timing", "changed": "settings changed",
         "content": "new content", "rewired": "arrows changed", "same": ""}
GAP = 6.0


def _n(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def mark_lines(row: dict[str, Any]) -> list[str]:
    """What one step's mark says: what changed, then its figures (``120 tokens → finish``)."""
    lines = [WORDS.get(row["status"], row["status"])] if WORDS.get(row["status"], row["status"]) else []
    tokens = int(row.get("tokens") or 0)
    if row["status"] == "removed" and tokens:
        lines.append(f"{_n(tokens, 'token', 'tokens')} → {row.get('goes_to') or 'finish'}")
    elif tokens and row["status"] != "same":
        lines.append(f"{_n(tokens, 'token', 'tokens')} here")
    for key, one, many in (("retimed", "wait re-timed", "waits re-timed"),
                           ("listeners", "listener follows", "listeners follow"),
                           ("stop_listening", "listener stops", "listeners stop"),
                           ("not_sent", "queued email not sent", "queued emails not sent")):
        if row.get(key):
            lines.append(_n(int(row[key]), one, many))
    if row.get("gained"):
        lines.append(f"+{_n(int(row['gained']), 'email', 'emails')}")
    if row.get("lost"):
        lines.append(f"−{_n(int(row['lost']), 'email', 'emails')}")
    return lines


def marked(impact: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The steps that get a mark: every one the edit touches or that gains, loses or holds something."""
    found = {}
    for row in impact.get("nodes", []):
        if row["status"] == "removed" and not (row.get("tokens") or row.get("not_sent")):
            continue  # nothing stood on it: nothing to show where it was
        if row["status"] != "same" or any(row.get(k) for k in ("gained", "lost", "retimed", "listeners")):
            found[row["node"]] = row
    return found


class ImpactMark(QGraphicsItem):
    """A step's outline and badge; for a step the canvas does not have, its dashed ghost too."""

    def __init__(self, node: str, row: dict[str, Any], rect: QRectF, ghost: Optional[str] = None) -> None:
        super().__init__()
        self.node = node
        self.status = row["status"]
        self.lines = mark_lines(row)
        #: The removed step's type when this mark stands in for it, else None.
        self.ghost = ghost
        self.rect = QRectF(0, 0, rect.width(), rect.height())
        self.setPos(rect.topLeft())
        self.setZValue(5)
        self._text = BadgeText()
        width, height = self._text.size(self.lines)
        self.badge = QRectF(0, -GAP - height, width, height)
        self.setToolTip(f"{node}: " + ", ".join(self.lines))

    def text(self) -> str:
        return "\n".join(self.lines)

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-6, -6, 6, 6).united(self.badge).adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: Optional[QWidget] = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = COLORS.get(self.status, COLORS["same"])
        outline = QPen(color, 3, Qt.PenStyle.DashLine if self.ghost else Qt.PenStyle.SolidLine)
        if self.ghost:
            fill = QColor(color)
            fill.setAlpha(28)
            painter.setBrush(fill)
            painter.setPen(outline)
            painter.drawRoundedRect(self.rect, 10, 10)
            painter.setFont(self._text.font)
            painter.setPen(color.darker(120))
            painter.drawText(self.rect, Qt.AlignmentFlag.AlignCenter, f"{self.node} ({self.ghost}, removed)")
        else:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(outline)
            painter.drawRoundedRect(self.rect.adjusted(-4, -4, 4, 4), 13, 13)
        if not self.lines:
            return
        self._text.paint(painter, self.badge, self.lines, QPen(color, 1.4))


class ImpactMarks:
    """The marks of one impact preview on one canvas."""

    def __init__(self, scene: FlowScene) -> None:
        self.scene = scene
        self.marks: dict[str, ImpactMark] = {}

    def show(self, impact: dict[str, Any], running: Optional[Flow] = None) -> None:
        """Mark the steps ``impact`` touches; removed ones the canvas lacks are drawn where
        they stand in ``running`` (the flow the campaign runs now)."""
        self.clear()
        for node, row in marked(impact).items():
            item = self.scene.nodes.get(node)
            if item is not None:
                rect = QRectF(item.pos(), item.node_rect().size())
                mark = ImpactMark(node, row, rect)
            else:
                old = running.find_node(node) if running is not None else None
                if old is None:
                    continue
                x, y = (old.extra.get("position") or [0, 0])[:2]
                view = view_for(old.type)
                mark = ImpactMark(node, row, QRectF(float(x), float(y), view.width, view.height(old)), old.type)
            self.scene.addItem(mark)
            self.marks[node] = mark

    def clear(self) -> None:
        for mark in self.marks.values():
            if isValid(mark) and mark.scene() is not None:  # a rebuilt canvas deleted it already
                mark.scene().removeItem(mark)
        self.marks.clear()

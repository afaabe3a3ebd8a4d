"""Colours, sizes and resource paths shared by the canvas and the widgets."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

from PySide6.QtCore import QDir, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
ICONS = RESOURCES / "icons"
STYLES = RESOURCES / "styles"

#: Grid the canvas snaps to and draws.
GRID = 20
#: Wide enough for a caption such as "Opened Hi ‹first_name›, our spring offer?" on two lines.
NODE_WIDTH = 210
END_WIDTH = 150
NODE_HEIGHT = 60
#: Spacing of the automatic layout (columns, rows): 50 px between columns leaves an edge's
#: count readable between the ports.
LAYOUT_DX = 260
LAYOUT_DY = 110


class _TypeColors(Mapping):
    """Each registered type's accent colour, asked of its view descriptor
    (``editor/node_views``); kept as a mapping for the run overlay."""

    def _views(self) -> dict:
        from editor.node_views import views
        return views()

    def __getitem__(self, name: str) -> QColor:
        return self._views()[name].qcolor()

    def __iter__(self) -> Iterator[str]:
        return iter(self._views())

    def __len__(self) -> int:
        return len(self._views())


TYPE_COLORS: Mapping[str, QColor] = _TypeColors()

#: The plain ``next`` port's colour and the condition's YES/NO as the run overlay
#: (``app/run_overlay.py``) reads them; the canvas asks each type's view instead.
PORT_COLORS = {"next": QColor("#98A2B3"), "yes": QColor("#16A34A"), "no": QColor("#E8590C")}
PORT_LABELS = {"yes": "YES", "no": "NO"}
EDGE_COLOR = QColor("#98A2B3")
SELECTION = QColor("#2E6BE6")
ERROR = QColor("#D92D20")
WARNING = QColor("#DC8A03")
TEXT = QColor("#101828")
TEXT_MUTED = QColor("#667085")
NODE_FILL = QColor("#FFFFFF")
NODE_BORDER = QColor("#D0D5DD")
CANVAS = QColor("#F5F6F8")
GRID_DOT = QColor("#D5DAE1")
DROP_OK = QColor("#16A34A")
DROP_REFUSED = QColor("#D92D20")

SEVERITY_COLORS = {"error": ERROR, "warning": WARNING}


def font(pixel_size: int, weight: QFont.Weight = QFont.Weight.Normal, italic: bool = False) -> QFont:
    """A UI font sized in pixels so the canvas lays out the same at any DPI."""
    f = QFont()
    f.setPixelSize(pixel_size)
    f.setWeight(weight)
    f.setItalic(italic)
    return f


@cache
def svg_renderer(node_type: str) -> QSvgRenderer:
    return QSvgRenderer(str(ICONS / f"{node_type}.svg"))


def paint_icon(painter: QPainter, node_type: str, rect: QRectF) -> None:
    svg_renderer(node_type).render(painter, rect)


@cache
def type_icon(node_type: str) -> QIcon:
    """The SVG rendered at 1x and 2x so it stays sharp on HiDPI screens."""
    icon = QIcon()
    for size in (16, 24, 32, 48, 64):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        svg_renderer(node_type).render(painter, QRectF(0, 0, size, size))
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def severity_icon(severity: str, size: int = 16) -> QIcon:
    pixmap = QPixmap(size * 2, size * 2)
    pixmap.setDevicePixelRatio(2)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(SEVERITY_COLORS.get(severity, ERROR))
    painter.drawEllipse(QRectF(2, 2, size - 4, size - 4))
    painter.setPen(QColor("white"))
    painter.setFont(font(size - 6, QFont.Weight.Bold))
    painter.drawText(QRectF(2, 2, size - 4, size - 4), Qt.AlignmentFlag.AlignCenter, "!")
    painter.end()
    return QIcon(pixmap)


def stylesheet(name: str = "light") -> str:
    """The style sheet; its ``url(icons:…)`` images (combo and spin-box arrows) come from ``ICONS``."""
    if str(ICONS) not in QDir.searchPaths("icons"):
        QDir.addSearchPath("icons", str(ICONS))
    path = STYLES / f"{name}.qss"
    return path.read_text(encoding="utf-8") if path.exists() else ""

"""A campaign's report: the per-step funnel, sends/opens/clicks over time, CSV export."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Optional

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.client import EngineError
from editor.summary import step_name
from editor.window import documents_dir
from engine.flow.model import Flow

COLUMNS = ["Step", "Type", "Sent", "Opened", "Clicked", "Yes", "No", "Ended"]
MINUTE_MS = 60_000
#: Calm, distinguishable colours (also for colour-blind readers): slate blue, teal, amber.
SERIES_COLOURS = {"sends": "#4C6A92", "opens": "#3E8E7E", "clicks": "#C98B2B"}
SERIES_NAMES = {"sends": "Sent", "opens": "Opened", "clicks": "Clicked"}
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def _rate(count: int, rate: Optional[float]) -> str:
    return f"{count}  ({rate:.0%})" if rate is not None else str(count)


def time_axis(bucket_ms: int, buckets: int) -> tuple[list[float], str]:
    """Bucket edges (one more than buckets) in one unit the axis names: minutes for a run of
    under two hours, hours up to three days, days beyond, so ticks read as plain numbers."""
    span = bucket_ms * buckets
    if span > 3 * DAY_MS:
        unit, label = DAY_MS, "days"
    elif span >= 2 * HOUR_MS:
        unit, label = HOUR_MS, "hours"
    else:
        unit, label = MINUTE_MS, "minutes"
    return [i * bucket_ms / unit for i in range(buckets + 1)], label


def legend_html() -> str:
    """The chart's legend as a line of text above it, where it can never cover a bar."""
    return "&nbsp;&nbsp;&nbsp;".join(
        f"<span style='color:{SERIES_COLOURS[key]}; font-size:16px'>■</span>&nbsp;{SERIES_NAMES[key]}"
        for key in SERIES_COLOURS)


class ReportView(QWidget):
    def __init__(self, client: Any, campaign_id: int, parent: Optional[QWidget] = None,
                 flow: Optional[Flow] = None) -> None:
        super().__init__(parent)
        self.client = client
        self.campaign_id = campaign_id
        #: The campaign's flow, to name steps as they were drawn (ids when it is not known).
        self.flow = flow
        self._tasks: set[asyncio.Task] = set()

        self.title = QLabel(f"Campaign {campaign_id}")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        self.refresh_button = QPushButton("Refresh")
        self.export_lead_button = QPushButton("Export per lead…")
        self.export_node_button = QPushButton("Export per node…")
        self.refresh_button.clicked.connect(lambda: self._spawn(self.refresh()))
        # Plain slots: the file dialog is modal, and a modal dialog inside a running task
        # re-enters the event loop ("Cannot enter into task"). Ask first, then write in a task.
        self.export_lead_button.clicked.connect(lambda: self.export("lead"))
        self.export_node_button.clicked.connect(lambda: self.export("node"))
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.export_lead_button)
        top.addWidget(self.export_node_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)

        self.plot = pg.PlotWidget(background="w")
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("left", "messages")
        self.plot.setLabel("bottom", "campaign time (hours)")
        for axis in ("left", "bottom"):
            # Units are chosen by time_axis(); no "(x0.001)" scale suffix on top of them.
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.plot.getPlotItem().setMouseEnabled(x=True, y=False)
        self.legend = QLabel(legend_html())
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.curves: dict[str, pg.PlotDataItem] = {}
        for key, colour in SERIES_COLOURS.items():
            # Counts per time bucket: drawn as steps, each bucket a flat run, so nothing is interpolated.
            fill = QColor(colour)
            fill.setAlpha(40 if key == "sends" else 0)
            self.curves[key] = self.plot.plot(
                [0.0, 1.0], [0.0], stepMode="center",
                pen=pg.mkPen(colour, width=2), fillLevel=0 if key == "sends" else None, brush=fill)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen("#333")
            self.plot.getAxis(axis).setPen("#999")

        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        chart = QWidget()
        chart_layout = QVBoxLayout(chart)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.addWidget(self.legend)
        chart_layout.addWidget(self.plot, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(chart)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- figures -----------------------------------------------------------------
    async def refresh(self) -> None:
        try:
            figures = await self.client.figures(self.campaign_id)
            series = await self.client.series(self.campaign_id)
        except EngineError as exc:
            self.status.setText(f"Cannot read the report: {exc}")
            return
        self._show_figures(figures)
        self._show_series(series)
        self.status.setText("")

    def _show_figures(self, figures: dict) -> None:
        name = figures.get("name") or f"Campaign {self.campaign_id}"
        state = figures.get("state") or ""
        leads = figures.get("leads")
        bits = [name, state, f"{leads} leads" if leads is not None else ""]
        self.title.setText(" · ".join(b for b in bits if b))
        nodes = list((figures.get("nodes") or {}).values())
        self.table.setRowCount(len(nodes))
        for row, n in enumerate(nodes):
            kind = n.get("type", "")
            is_email, is_condition = kind == "email", kind == "condition"
            cells = [
                self.step_name(n.get("node", "")), kind,
                str(n.get("sent", 0)) if is_email else "",
                _rate(n.get("opened", 0), n.get("open_rate")) if is_email else "",
                _rate(n.get("clicked", 0), n.get("click_rate")) if is_email else "",
                str(n.get("yes", 0)) if is_condition else "",
                str(n.get("no", 0)) if is_condition else "",
                str(n.get("finished", 0)) if kind == "end" else "",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setToolTip(f"{text} (step {n.get('node', '')})")
                if column >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        # Show the whole funnel when it fits (up to about ten steps), the chart takes the rest.
        self.table.resizeRowsToContents()
        needed = (self.table.horizontalHeader().height() + 2 * self.table.frameWidth()
                  + sum(self.table.rowHeight(r) for r in range(self.table.rowCount())))
        self.table.setMinimumHeight(min(needed, 10 * 30 + self.table.horizontalHeader().height()))

    def step_name(self, node_id: str) -> str:
        return step_name(self.flow, node_id) if self.flow is not None else node_id

    def _show_series(self, series: dict) -> None:
        bucket_ms = int(series.get("bucket_ms") or HOUR_MS)
        buckets = max(len(series.get(k) or []) for k in SERIES_COLOURS)
        xs, unit = time_axis(bucket_ms, max(1, buckets))
        self.plot.setLabel("bottom", f"campaign time ({unit})")
        for key, curve in self.curves.items():
            values = list(series.get(key) or []) or [0]
            curve.setData(xs[:len(values) + 1], values)
        self.plot.enableAutoRange()

    def row_texts(self) -> list[list[str]]:
        """The funnel as shown, row by row."""
        return [[self.table.item(r, c).text() for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]

    # -- export ----------------------------------------------------------------------
    def choose_export_path(self, per: str) -> Optional[str]:
        """Ask where to write the CSV (starting in Documents); tests replace this."""
        suggested = str(Path(documents_dir()) / f"campaign-{self.campaign_id}-per-{per}.csv")
        path, _ = QFileDialog.getSaveFileName(self, f"Export results per {per}", suggested,
                                              "CSV files (*.csv);;All files (*)")
        return path or None

    def export(self, per: str) -> Optional[asyncio.Task]:
        """Ask where to write the results per ``lead`` or per ``node``, then write them in the background.

        Called from a plain slot, never from a task: the file dialog runs its own event loop.
        Returns the writing task (None when the user cancels).
        """
        path = self.choose_export_path(per)
        if not path:
            return None
        return self._spawn(self.export_to(per, path))

    async def export_to(self, per: str, path: str | Path) -> Optional[Path]:
        """Write the run's results per ``lead`` or per ``node`` to ``path``."""
        try:
            text = await self.client.export_csv(self.campaign_id, per=per)
        except EngineError as exc:
            self.status.setText(f"Nothing exported: {exc}")
            return None
        target = Path(path)
        try:
            target.write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            self.status.setText(f"Could not write {target}: {exc.strerror or exc}. Choose another place.")
            return None
        rows = max(0, len(text.splitlines()) - 1)
        self.status.setText(f"Exported {rows} row{'s' if rows != 1 else ''} per {per} to {target}")
        return target

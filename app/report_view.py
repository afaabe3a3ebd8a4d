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
from app.version_marks import VersionMarks
from editor.summary import step_name
from editor.window import documents_dir
from engine.flow.model import Flow
from engine.nodes.registry import node_type

#: Human and machine opens and clicks side by side (SEMANTICS 5); "Outputs" counts leads per
#: output of a step with several (YES/NO, a split's branches).
COLUMNS = ["Step", "Type", "Sent", "Opened", "Clicked", "Machine opens", "Machine clicks", "Outputs", "Waiting",
           "Ended"]
#: A split's branches compared (SEMANTICS 10): leads, and what the emails below each branch did.
BRANCH_COLUMNS = ["Split", "Branch", "Leads", "Sent", "Opened", "Clicked", "Machine opens", "Machine clicks"]
#: Columns sized to their text, so "YES 20 · NO 20" and "A 512 · B 488" never wrap.
FIT_COLUMNS = ("Step", "Split", "Outputs")
MINUTE_MS = 60_000
#: Calm, distinguishable colours (also for colour-blind readers): slate blue, teal, amber.
SERIES_COLOURS = {"sends": "#4C6A92", "opens": "#3E8E7E", "clicks": "#C98B2B"}
SERIES_NAMES = {"sends": "Sent", "opens": "Opened", "clicks": "Clicked"}
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def _rate(count: int, rate: Optional[float]) -> str:
    return f"{count}  ({rate:.0%})" if rate is not None else str(count)


def _rate_of(count: int, whole: int) -> Optional[float]:
    return count / whole if whole else None


def funnel_row(n: dict[str, Any], flow: Optional[Flow]) -> list[str]:
    """One step's cells, the figures its type shows (``NodeType.figures``) and no others."""
    descriptor = node_type(n.get("type", ""))
    shows = set(descriptor.figures)
    node = flow.find_node(n.get("node", "")) if flow is not None else None
    ports = descriptor.ports(node) if node is not None else descriptor.fixed_ports
    counts = n.get("ports") or {}
    if len(ports) > 1:
        outputs = " · ".join(f"{p.title} {int(counts.get(p.name, n.get(p.name, 0)) or 0)}" for p in ports)
    else:
        outputs = str(n.get("passed", 0)) if "passed" in shows and not descriptor.is_exit else ""
    email = "sent" in shows
    waiting = int(n.get("waiting", 0) or 0)
    return [
        "", n.get("type", ""),
        str(n.get("sent", 0)) if email else "",
        _rate(n.get("opened", 0), n.get("open_rate")) if "opened" in shows else "",
        _rate(n.get("clicked", 0), n.get("click_rate")) if "clicked" in shows else "",
        str(n.get("machine_opened", 0)) if "opened" in shows else "",
        str(n.get("machine_clicked", 0)) if "clicked" in shows else "",
        outputs,
        str(waiting) if "waiting" in shows or waiting else "",
        str(int(n.get("finished", 0) or 0) + int(n.get("failed", 0) or 0)) if "finished" in shows else "",
    ]


def branch_rows(figures: dict[str, Any], flow: Optional[Flow]) -> list[dict[str, Any]]:
    """Every split's branches side by side: leads, and the sends, opens and clicks of the
    emails only that branch reaches (human and machine), with rates per send."""
    nodes = figures.get("nodes") or {}
    rows: list[dict[str, Any]] = []
    for node_id, n in nodes.items():
        branches = n.get("branches")
        if not isinstance(branches, dict):
            continue
        node = flow.find_node(node_id) if flow is not None else None
        titles = {p.name: p.title for p in node_type(n.get("type", "")).ports(node)} if node is not None else {}
        for port, b in branches.items():
            emails = [nodes.get(e) or {} for e in b.get("emails") or []]
            sent, opened, clicked = (int(b.get(k, 0) or 0) for k in ("sent", "opened", "clicked"))
            rows.append({"split": node_id, "branch": titles.get(port, port.upper()), "port": port,
                         "leads": int(b.get("leads", 0) or 0), "sent": sent, "opened": opened, "clicked": clicked,
                         "open_rate": _rate_of(opened, sent), "click_rate": _rate_of(clicked, sent),
                         "machine_opened": sum(int(e.get("machine_opened", 0) or 0) for e in emails),
                         "machine_clicked": sum(int(e.get("machine_clicked", 0) or 0) for e in emails)})
    return rows


def summary_line(figures: dict[str, Any], flow: Optional[Flow] = None) -> str:
    """Conversions (where the flow has a goal or a lead converted), the machine events
    the Opened and Clicked columns leave out, and what bounced or was reported as spam."""
    parts = []
    leads = int(figures.get("leads") or 0)
    converted = int(figures.get("converted") or 0)
    if converted or (flow is not None and flow.extra.get("goal")):
        parts.append(f"Converted: {converted}" + (f" ({converted / leads:.0%} of leads)" if leads else ""))
    machine = int(figures.get("machine_events") or 0)
    parts.append(f"Machine opens and clicks (privacy proxies, link scanners): {machine}, counted apart")
    total = (figures.get("bounces") or {}).get("total")
    if total is not None:  # what came back after delivery (engine/bounces): suppressed, or may pass
        parts.append(f"Bounced: {int(total.get('bounced') or 0)}, soft-bounced: "
                     f"{int(total.get('soft_bounced') or 0)}, spam complaints: {int(total.get('complained') or 0)}")
    return " · ".join(parts)


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


def _table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    # Two-word headers on two lines, so a 1000 px report window shows them whole.
    table.setHorizontalHeaderLabels([c.replace(" ", "\n", 1) if c.startswith("Machine") else c for c in columns])
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().setVisible(False)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    for index, name in enumerate(columns):
        if name in FIT_COLUMNS:
            table.horizontalHeader().setSectionResizeMode(index, QHeaderView.ResizeMode.ResizeToContents)
    return table


def _fit_rows(table: QTableWidget, most: int, tight: bool = False) -> None:
    """Show every row when there are up to ``most``; the chart takes the rest (and with
    ``tight``, also the room the table does not need)."""
    table.resizeRowsToContents()
    header = table.horizontalHeader().height()
    needed = header + 2 * table.frameWidth() + sum(table.rowHeight(r) for r in range(table.rowCount()))
    table.setMinimumHeight(min(needed, most * 30 + header))
    if tight:
        table.setMaximumHeight(max(needed, table.minimumHeight()))


def _texts(table: QTableWidget) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


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

        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = _table(COLUMNS)
        self.branches = _table(BRANCH_COLUMNS)
        self.branches.setToolTip("Each branch of an A/B split: its leads, and what the emails only that branch "
                                 "reaches did. The best open and click rate of each split is in bold.")
        self.branches.setVisible(False)

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
        splitter.addWidget(self.branches)
        splitter.addWidget(chart)
        for index in range(3):
            splitter.setStretchFactor(index, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        # When each version of the flow was published (SEMANTICS 11).
        self.version_marks = VersionMarks(self.plot)
        layout.addWidget(self.version_marks.label)
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
        try:
            versions = await self.client.versions(self.campaign_id) if hasattr(self.client, "versions") else []
        except EngineError:
            versions = []
        self.version_marks.show(versions, int(figures.get("started_at") or 0), self.plot_unit)

    def _show_figures(self, figures: dict) -> None:
        name = figures.get("name") or f"Campaign {self.campaign_id}"
        state = figures.get("state") or ""
        leads = figures.get("leads")
        bits = [name, state, f"{leads} leads" if leads is not None else ""]
        self.title.setText(" · ".join(b for b in bits if b))
        self.summary.setText(summary_line(figures, self.flow))
        nodes = list((figures.get("nodes") or {}).values())
        self.table.setRowCount(len(nodes))
        for row, n in enumerate(nodes):
            cells = funnel_row(n, self.flow)
            cells[0] = self.step_name(n.get("node", ""))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setToolTip(f"{text} (step {n.get('node', '')})")
                if column >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        _fit_rows(self.table, 10)
        self._show_branches(branch_rows(figures, self.flow))

    def _show_branches(self, rows: list[dict[str, Any]]) -> None:
        """The split comparison; the best open and click rate of each split in bold."""
        self.branches.setVisible(bool(rows))
        self.branches.setRowCount(len(rows))
        best: dict[tuple[str, str], float] = {}
        for r in rows:
            for key in ("open_rate", "click_rate"):
                if r[key] is not None:
                    best[(r["split"], key)] = max(best.get((r["split"], key), 0.0), r[key])
        for row, r in enumerate(rows):
            cells = [self.step_name(r["split"]), r["branch"], str(r["leads"]), str(r["sent"]),
                     _rate(r["opened"], r["open_rate"]), _rate(r["clicked"], r["click_rate"]),
                     str(r["machine_opened"]), str(r["machine_clicked"])]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                rate = {4: "open_rate", 5: "click_rate"}.get(column)
                if rate and r[rate] is not None and r[rate] == best.get((r["split"], rate)) and \
                        sum(1 for o in rows if o["split"] == r["split"]) > 1 and r[rate] > 0:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.branches.setItem(row, column, item)
        _fit_rows(self.branches, 6, tight=True)

    def step_name(self, node_id: str) -> str:
        return step_name(self.flow, node_id) if self.flow is not None else node_id

    def _show_series(self, series: dict) -> None:
        bucket_ms = int(series.get("bucket_ms") or HOUR_MS)
        buckets = max(len(series.get(k) or []) for k in SERIES_COLOURS)
        xs, unit = time_axis(bucket_ms, max(1, buckets))
        self.plot_unit = unit
        self.plot.setLabel("bottom", f"campaign time ({unit})")
        for key, curve in self.curves.items():
            values = list(series.get(key) or []) or [0]
            curve.setData(xs[:len(values) + 1], values)
        self.plot.enableAutoRange()

    def row_texts(self) -> list[list[str]]:
        """The funnel as shown, row by row."""
        return _texts(self.table)

    def branch_texts(self) -> list[list[str]]:
        """The split comparison as shown, row by row."""
        return _texts(self.branches)

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

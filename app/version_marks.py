"""The report marks when each version of a campaign's flow was published
(SEMANTICS 11): a dashed line per version on the chart's time axis, and one
line of text per version (when, the note, what publishing it did)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel

UNITS_MS = {"minutes": 60_000, "hours": 3_600_000, "days": 86_400_000}


def version_lines(versions: list[dict[str, Any]]) -> list[str]:
    """One sentence per version published after the first, oldest first."""
    lines = []
    for v in versions[1:]:
        when = datetime.fromtimestamp(v["published_at"] / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        note = f" “{v['note']}”" if v.get("note") else ""
        did = f": {v['did']}" if v.get("did") else ""
        running = " (running)" if v.get("running") else ""
        lines.append(f"Version {v['number']}{running} published {when}{note}{did}")
    return lines


class VersionMarks:
    """Dashed lines on the report's chart and a text line per published version."""

    def __init__(self, plot: pg.PlotWidget) -> None:
        self.plot = plot
        self.lines: list[pg.InfiniteLine] = []
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setVisible(False)

    def show(self, versions: list[dict[str, Any]], started_at: int, unit: str) -> None:
        for line in self.lines:
            self.plot.removeItem(line)
        self.lines = []
        scale = UNITS_MS.get(unit, UNITS_MS["hours"])
        for v in versions[1:]:
            line = pg.InfiniteLine(pos=(v["published_at"] - started_at) / scale, angle=90,
                                   pen=pg.mkPen("#7a3db8", width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                                   label=f"v{v['number']}", labelOpts={"position": 0.95, "color": "#7a3db8"})
            self.plot.addItem(line)
            self.lines.append(line)
        text = version_lines(versions)
        self.label.setText("\n".join(text))
        self.label.setVisible(bool(text))

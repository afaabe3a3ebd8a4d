"""``RunTabs``: the main window's tabs, the flow being edited and one per campaign run.

The first tab holds the editor and can never be closed; each run the user
starts, or that the engine was already running, gets a ``RunView`` tab of
its own. The tabs own the runs' views (``runs``, by campaign id), so the
window asks them which run is in front rather than keeping a second list.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabBar, QTabWidget, QWidget

from app.run_view import RunView


class RunTabs(QTabWidget):
    #: The run in front changed, a run opened or closed, or a run's state changed.
    changed = Signal()

    def __init__(self, flow_tab: QWidget, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.runs: dict[int, RunView] = {}
        self.setDocumentMode(True)
        self.setTabsClosable(True)
        self.addTab(flow_tab, "Flow")
        self.tabBar().setTabButton(0, QTabBar.ButtonPosition.RightSide, None)
        self.tabCloseRequested.connect(self.close_run)
        self.currentChanged.connect(lambda _index: self.changed.emit())

    def add_run(self, view: RunView, focus: bool = True) -> RunView:
        """Give the run a tab, unless its campaign has one; with ``focus``, bring that tab to the front."""
        if view.campaign_id in self.runs:
            view = self.runs[view.campaign_id]
        else:
            self.runs[view.campaign_id] = view
            view.stateChanged.connect(lambda _id, _text: self.changed.emit())
            mark = "Simulation" if view.simulated else "Run"
            index = self.addTab(view, f"{mark} {view.campaign_id}: {view.flow.name}")
            self.setTabToolTip(index, f"{view.flow.name} — campaign {view.campaign_id}")
        if focus:
            self.setCurrentWidget(view)
        self.changed.emit()
        return view

    def current_run(self) -> Optional[RunView]:
        widget = self.currentWidget()
        return widget if isinstance(widget, RunView) else None

    def active_runs(self) -> list[RunView]:
        return [r for r in self.runs.values() if r.is_active]

    def show_flow(self) -> None:
        self.setCurrentIndex(0)

    def close_run(self, index: int) -> None:
        """Close a run's tab (its polling stops; the campaign itself goes on in the engine)."""
        widget = self.widget(index)
        if isinstance(widget, RunView):
            widget.close_view()
            self.removeTab(index)
            self.runs.pop(widget.campaign_id, None)
            widget.deleteLater()
            self.changed.emit()

    def close_all(self) -> None:
        """Stop every run view's polling, before the window goes."""
        for run in self.runs.values():
            run.close_view()

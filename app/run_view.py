"""One running campaign: its canvas with the live overlay, controls and leads.

The canvas is a read-only ``FlowEditor`` of the campaign's own flow (as the
engine stored it when the run started). A 500 ms ``QTimer`` polls the
engine's ``figures()``; the overlay, the progress bar and the state line
follow. When the engine does not answer (it is being restarted), the last
figures stay on screen and the state line says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsView,
    QHBoxLayout,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from app.client import EngineError, EngineUnavailable
from app.elided_label import ElidedLabel
from app.leads_panel import LeadsPanel, RefreshGate, span, wall
from app.publish_bar import ChangesBar
from app.run_overlay import RunOverlay
from editor.controller import FlowEditor
from editor.layout import apply_missing_positions
from engine.flow.model import Flow
from engine.runtime.status import describe_outbox

if TYPE_CHECKING:
    from app.engine_process import EngineProcess

#: Simulation speeds offered: (label, campaign seconds per real second).
SPEEDS = [("1 min/s", 60.0), ("1 hour/s", 3600.0), ("6 hours/s", 21600.0), ("1 day/s", 86400.0)]
POLL_MS = 500
#: The progress bar gives up width before the buttons do (a 1366 px laptop fits the whole bar).
PROGRESS_MIN_WIDTH = 130
PROGRESS_MAX_WIDTH = 240


def speed_label(speed: Optional[float]) -> str:
    for label, value in SPEEDS:
        if speed == value:
            return label
    return f"×{speed:g}" if speed else ""


class RunView(QWidget):
    #: The state line changed: (campaign id, text).
    stateChanged = Signal(int, str)
    #: A sentence for the status bar.
    message = Signal(str)

    def __init__(self, engine: EngineProcess, campaign_id: int, flow: Flow, simulated: bool,
                 parent: Optional[QWidget] = None, flow_source: Optional[Callable[[], Optional[Flow]]] = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.campaign_id = campaign_id
        self.simulated = simulated
        apply_missing_positions(flow)
        self.flow = flow
        self.figures: dict[str, Any] = {}
        self.state_text = "Starting…"
        self.engine_ok = True
        self.last_error = ""
        self.polls = 0
        self._poll_gate = RefreshGate()
        self._fitted = False

        self.editor = FlowEditor(flow, self)
        self.view = self.editor.view
        self.view.setInteractive(False)
        self.view.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.overlay = RunOverlay(self.editor.scene)
        self.leads = LeadsPanel(engine, campaign_id, flow)
        self.leads.highlightRequested.connect(self.overlay.highlight)
        self.leads.message.connect(self.message.emit)

        # Labels shorten with "…" (whole text in the tooltip) rather than widen the window.
        self.title = ElidedLabel(f"<b>{flow.name}</b> · campaign {campaign_id}"
                                 + (" · simulation (sandbox only)" if simulated else " · real sending"))
        self.state_label = ElidedLabel(self.state_text, min_chars=8)
        self.state_label.setObjectName("RunState")
        self.clock_label = ElidedLabel()
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m finished")
        self.progress.setToolTip("Leads finished: every tracked path of the lead has reached an end")
        self.progress.setMinimumWidth(PROGRESS_MIN_WIDTH)
        self.progress.setMaximumWidth(PROGRESS_MAX_WIDTH)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip(
            "Stop the simulated clock; Resume carries on" if simulated else
            "Hold sending: nothing more goes out until you resume (a message already on its way finishes). "
            "Timers keep their times; what falls due meanwhile goes out when you resume.")
        self.skip_button = QPushButton("Skip to next timer")
        self.skip_button.setToolTip("Move the campaign clock to the next wait that ends")
        self.speed_box = QComboBox()
        for label, value in SPEEDS:
            self.speed_box.addItem(label, value)
        self.stop_button = QPushButton("Stop campaign")
        self.stop_button.setToolTip("End the campaign for good: nothing more is sent (you are asked first)")
        for w in (self.skip_button, self.speed_box):
            w.setVisible(simulated)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.skip_button.clicked.connect(self.skip)
        self.speed_box.activated.connect(self._speed_chosen)
        self.stop_button.clicked.connect(self.stop)

        bar = QHBoxLayout()
        bar.addWidget(self.title, 3)
        bar.addSpacing(8)
        bar.addWidget(self.state_label)
        bar.addSpacing(8)
        bar.addWidget(self.clock_label, 2)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.pause_button)
        bar.addWidget(self.skip_button)
        bar.addWidget(self.speed_box)
        bar.addWidget(self.stop_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.view)
        split.addWidget(self.leads)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        split.setSizes([930, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addLayout(bar)
        # Changing the running campaign (SEMANTICS 11): shown while the editor's flow differs from it.
        self.changes = ChangesBar(self, flow_source or (lambda: None))
        self.changes.message.connect(self.message.emit)
        layout.addWidget(self.changes)
        layout.addWidget(split, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.timeout.connect(self.changes.refresh)
        self.timer.start()

    # -- figures -------------------------------------------------------------
    @property
    def state(self) -> str:
        return str(self.figures.get("state", ""))

    @property
    def is_active(self) -> bool:
        """Still running (or paused): something is left to happen."""
        return self.state not in ("complete", "stopped") if self.figures else True

    @asyncSlot()
    async def poll(self) -> None:
        if not self._poll_gate.enter():
            return
        client = self.engine.client
        if client is None or not self.engine.is_ready:
            self._poll_gate.leave()
            self._set_engine_ok(False)
            return
        try:
            figures = await client.figures(self.campaign_id)
            self._set_engine_ok(True)
            changed = self._signature(figures) != self._signature(self.figures)
            self.apply(figures)
            self.polls += 1
            if changed or self.polls % 4 == 1:
                await self.leads.refresh()
        except EngineUnavailable:
            self._set_engine_ok(False)
        except EngineError as exc:
            self.last_error = str(exc)
            self.message.emit(str(exc))
        finally:
            self._poll_gate.leave()

    @property
    def _polling(self) -> bool:
        return self._poll_gate.busy

    @staticmethod
    def _signature(figures: dict[str, Any]) -> Any:
        return (figures.get("edges"), figures.get("finished_leads"), figures.get("state"), figures.get("converted"),
                str(figures.get("nodes")))

    def apply(self, figures: dict[str, Any]) -> None:
        self.figures = figures
        self.leads.origin = figures.get("started_at")
        self.overlay.apply(figures)
        leads = int(figures.get("leads") or 0)
        self.progress.setRange(0, max(1, leads))
        self.progress.setValue(min(leads, int(figures.get("finished_leads") or 0)))
        if leads == 0:
            self.progress.setFormat("no leads")
        self._update_state()

    def converted_text(self) -> str:
        """`` · 12 converted`` where the flow has a goal or a lead converted (SEMANTICS 10)."""
        converted = int(self.figures.get("converted") or 0)
        if not converted and not self.flow.extra.get("goal"):
            return ""
        return f" · {converted} converted"

    def _set_engine_ok(self, ok: bool) -> None:
        if ok != self.engine_ok:
            self.engine_ok = ok
            self._update_state()

    def _update_state(self) -> None:
        f = self.figures
        start = f.get("started_at")
        state = f.get("state", "")
        if state == "complete":
            text = f"Complete at {span(f.get('complete_at'), start)}"
            if not self.simulated:
                text += f" ({wall(f.get('complete_at'))})"
        elif state == "stopped":
            stopped = f.get("stopped_at")
            text = "Stopped" + (f" at {span(stopped, start)}" if stopped else "")
            if stopped and not self.simulated:
                text += f" ({wall(stopped)})"
        elif f.get("paused"):
            text = "Paused" if self.simulated else "Paused by you: nothing is sent until you resume"
        elif f:
            text = "Running"
        else:
            text = "Starting…"
        if not self.engine_ok:
            text += " · engine not answering, reconnecting…"
        converted = self.converted_text()
        if self.simulated and f:
            # The speed last: the speed box shows it too, so it is what the label may elide.
            self.clock_label.setText(f"Campaign time {span(f.get('now'), start)}{converted} · "
                                     f"{speed_label(f.get('speed'))}")
        elif f:
            outbox, why = describe_outbox(f.get("outbox_status"), f.get("retries_waiting"))
            self.clock_label.setText(f"Started {wall(start)}{converted} · {outbox}")
            self.clock_label.setToolTip(why)  # paused and why, last errors by class, retries waiting
        self.pause_button.setText("Resume" if f.get("paused") else "Pause")
        active = state not in ("complete", "stopped")
        finished_all = state == "complete" and not f.get("tokens_active")
        self.pause_button.setEnabled(active)
        self.skip_button.setEnabled(self.simulated and not finished_all and state != "stopped")
        self.stop_button.setEnabled(state != "stopped")
        self.leads.set_stopped(state == "stopped")
        index = self.speed_box.findData(f.get("speed"))
        if index >= 0 and not self.speed_box.hasFocus():
            self.speed_box.setCurrentIndex(index)
        color = {"complete": "#16A34A", "stopped": "#667085"}.get(state, "#2E6BE6")
        if not self.engine_ok:
            color = "#D92D20"
        self.state_label.setStyleSheet(f"font-weight: 600; color: {color};")
        if text != self.state_text:
            self.state_text = text
            self.state_label.setText(text)
            self.stateChanged.emit(self.campaign_id, text)

    # -- controls ------------------------------------------------------------
    async def _call(self, name: str, *args: Any) -> Any:
        client = self.engine.client
        if client is None:
            return None
        try:
            result = await getattr(client, name)(self.campaign_id, *args)
        except EngineError as exc:
            self.last_error = str(exc)
            self.message.emit(str(exc))
            return None
        await self.poll()
        return result

    @asyncSlot()
    async def toggle_pause(self) -> None:
        await self._call("resume" if self.figures.get("paused") else "pause")

    async def set_paused(self, paused: bool) -> None:
        await self._call("pause" if paused else "resume")

    @asyncSlot()
    async def skip(self) -> Optional[int]:
        return await self._call("skip_to_next_timer")

    async def set_speed(self, speed: float) -> None:
        await self._call("set_speed", speed)

    @asyncSlot(int)
    async def _speed_chosen(self, index: int) -> None:
        await self.set_speed(float(self.speed_box.itemData(index)))

    def stop_question(self) -> QMessageBox:
        """The confirmation Stop asks for: what stopping means, Cancel as the default."""
        name = self.flow.name
        box = QMessageBox(QMessageBox.Icon.Warning, "Stop the campaign?",
                          f"Stop “{name}” (campaign {self.campaign_id}) for good?", QMessageBox.StandardButton.NoButton,
                          self)
        box.setInformativeText(
            ("No more emails of this simulation will go to the sandbox" if self.simulated else
             "No more emails of this campaign will be sent")
            + "; leads still on their way end where they are, and a stopped campaign cannot be started again. "
            "An email already on its way finishes."
            + ("" if self.simulated else " To hold sending for a while instead, use Pause."))
        box.addButton("Stop campaign", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        return box

    def confirm_stop(self) -> bool:
        """Ask before stopping; True to stop. Overridable (tests answer it)."""
        box = self.stop_question()
        box.exec()
        return box.buttonRole(box.clickedButton()) == QMessageBox.ButtonRole.DestructiveRole

    def stop(self) -> None:
        """Stop, once the user confirms (asked outside any task: a modal box inside one stalls the loop)."""
        if self.confirm_stop():
            self.stop_now()

    @asyncSlot()
    async def stop_now(self) -> None:
        await self._call("stop_campaign")

    # -- looks ---------------------------------------------------------------
    def fit(self) -> None:
        """The whole flow with its badges, at a zoom that stays readable (80% or more)."""
        content = self.editor.scene.content_rect()
        for item in self.overlay.nodes.values():
            content = content.united(item.sceneBoundingRect())
        self.view.zoom_to_fit(readable=True, content=content)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fitted:
            QTimer.singleShot(0, self.fit)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            QTimer.singleShot(0, self.fit)

    def close_view(self) -> None:
        self.timer.stop()

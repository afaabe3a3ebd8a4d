"""The Mailbranch main window: the flow editor, the engine, and a tab per run.

The window holds the editor rather than being one: an ``EditorWindow``
built with ``standalone=False`` (canvas, docks, files and the questions
about them) is the first of its tabs (``app/run_tabs.py``), beside a
``RunView`` tab per campaign; its actions go into the app's menus
(``app/app_menus.py``) and its status messages into the app's status bar.
So the editor keeps one way of working on its own and inside the app.

The engine process is started (or reattached) once the window shows; every
call to it goes through ``self.engine.client``, so runs survive an engine
restart.

Why it is a little over 400 lines: it is where the app's commands meet the
engine process (start a run, restart the engine for the relay, open side
windows, keep or stop runs on quit); each of those is a few lines of glue
over a module of its own (``campaign_launch``, ``run_tabs``, ``app_menus``,
the views), and splitting the glue would only spread one window's state.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QWidget
from qasync import asyncSlot

from app.app_menus import add_app_actions, build_menus
from app.campaign_launch import engine_relay_for, flow_to_run, run_target
from app.client import EngineError
from app.engine_process import EngineOptions, EngineProcess
from app.mailbox_view import MailboxView
from app.paths import SAMPLE_FLOW, SAMPLE_LEADS, data_dir
from app.publish_link import link_document, link_started
from app.relay_status import RelayStatusLabel
from app.report_view import ReportView
from app.run_dialog import RunDialog, RunRequest, RunTarget
from app.run_tabs import RunTabs
from app.run_view import RunView
from app.settings import AppSettings, recent_files, remember_recent
from app.settings_dialog import SettingsDialog
from app.suppression_view import SuppressionView
from editor import style
from editor.window import EditorWindow, default_window_size
from engine.flow.fileformat import loads_flow
from engine.flow.model import Flow
from engine.flow.validate import has_errors

#: One key for the simulation speed: the Settings dialog's default and the last speed chosen to run.
SPEED_KEY = "simulation/speed"
#: The relay the engine last ran with for a real run ("" local only): the next launch starts it so.
ENGINE_RELAY_KEY = "engine/relay_url"
KEEP = "keep"
STOP = "stop"
CANCEL = "cancel"


def side_window_size(width: int, height: int) -> QSize:
    """A mailbox or report window's size, never larger than the screen's free area."""
    most = default_window_size()
    return QSize(min(width, most.width()), min(height, most.height()))


def app_settings() -> QSettings:
    return QSettings("Mailbranch", "App")


def options_from_settings() -> EngineOptions:
    """Engine options from the saved settings (defaults when there are none)."""
    qsettings = app_settings()
    s = AppSettings.load(qsettings)
    return EngineOptions(data_dir=data_dir(), db_path=Path(s.db_path) if s.db_path else None,
                         relay_url=str(qsettings.value(ENGINE_RELAY_KEY, "") or ""),
                         smtp_url=s.smtp_url, tracking_host=s.tracking_host, tracking_port=int(s.tracking_port),
                         public_url=s.public_url, bounce_url=s.bounce_url, pacing=s.pacing,
                         warmup_per_day=s.warmup_per_day)


class MainWindow(QMainWindow):
    def __init__(self, path: Optional[str | Path] = None, engine_options: Optional[EngineOptions] = None,
                 leads_path: Optional[str | Path] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("MainWindow")
        #: The editor, with its docks and files; ``editor`` and ``document`` are its canvas and flow.
        self.editor_window = EditorWindow(None, self, standalone=False)
        self.editor = self.editor_window.editor
        self.document = self.editor_window.document
        self.engine = EngineProcess(engine_options or options_from_settings(), self)
        self.settings = app_settings()
        self.leads_path = Path(leads_path) if leads_path else Path(
            str(self.settings.value("run/leads", str(SAMPLE_LEADS))))
        if not self.leads_path.is_file():
            self.leads_path = SAMPLE_LEADS
        # The lead list's columns and first leads, for merge-field warnings and the preview.
        QTimer.singleShot(0, self, lambda: self.document.set_lead_file(self.leads_path))
        self.notice: Optional[QMessageBox] = None
        self.last_notice = ""
        self.side_windows: list[QWidget] = []
        self._closing_done = False
        self._close_task: Any = None
        #: What the engine says about itself (/health): where real runs send, the public URL.
        self.engine_facts: dict[str, Any] = {}

        self.tabs = RunTabs(self.editor_window)
        self.runs = self.tabs.runs
        self.setCentralWidget(self.tabs)
        self.actions = dict(self.editor_window.actions)
        add_app_actions(self)
        build_menus(self)
        self.editor.install_actions(self)  # the editor's shortcuts work anywhere in the window, as its menus do

        self.engine_label = QLabel("Engine: not started")
        self.campaign_label = QLabel("No campaign running")
        #: While a run through the public relay is open: is the relay there, when did it last sync.
        self.relay_label = RelayStatusLabel(parent=self)
        self.relay_label.hide()
        for label in (self.editor_window.zoom_label, self.relay_label, self.campaign_label, self.engine_label):
            self.statusBar().addPermanentWidget(label)
        self.editor_window.message.connect(self.statusBar().showMessage)
        self.editor_window.windowTitleChanged.connect(self.setWindowTitle)
        self.setWindowTitle(self.editor_window.windowTitle())
        self.document.modifiedChanged.connect(self.setWindowModified)
        self.setStyleSheet(style.stylesheet("light"))
        self.resize(default_window_size())

        self.engine.stateChanged.connect(self.engine_label.setText)
        self.engine.lost.connect(lambda text: self.notify("The engine stopped", text))
        self.engine.failed.connect(lambda text: self.notify("The engine cannot run", text))
        self.engine.ready.connect(self._engine_ready)
        self.document.pathChanged.connect(self._remember_path)
        self.tabs.changed.connect(self._update_campaign_actions)
        self._update_campaign_actions()
        self.open_initial(path)

    # -- files ---------------------------------------------------------------
    def open_initial(self, path: Optional[str | Path]) -> None:
        """The file asked for; else the last one; else (first start) the sample campaign."""
        if path is not None:
            self.editor_window.open_path(path, ask=False)
            return
        for recent in self.recent_files():
            if Path(recent).is_file() and self.editor_window.open_path(recent, ask=False):
                return
        sample = data_dir() / "spring-offer-sample.json"
        if not sample.exists():
            shutil.copyfile(SAMPLE_FLOW, sample)
        self.editor_window.open_path(sample, ask=False)
        self.leads_path = SAMPLE_LEADS

    def recent_files(self) -> list[str]:
        return recent_files(self.settings)

    def _remember_path(self) -> None:
        if self.document.path is not None:
            remember_recent(self.settings, self.document.path)

    # -- engine --------------------------------------------------------------
    @asyncSlot()
    async def start_engine(self) -> None:
        try:
            await self.engine.start()
        except EngineError as exc:
            self.engine_label.setText("Engine: not running")
            self.notify("The engine cannot start", str(exc))

    @asyncSlot(bool)
    async def _engine_ready(self, reattached: bool) -> None:
        """Show a tab for every campaign the engine is running that has none yet."""
        if reattached:
            self.statusBar().showMessage("Reattached to the engine running in the background.", 8000)
        client = self.engine.client
        if client is None:
            return
        try:
            self.engine_facts = await client.health()
            campaigns = await client.campaigns()
        except EngineError as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return
        for c in campaigns:
            if c.get("attached") and c.get("state") == "running" and c["id"] not in self.runs:
                flow = loads_flow(json.dumps(c["flow"]))
                self.open_run(c["id"], flow, bool(c.get("simulated")), focus=False)

    def notify(self, title: str, text: str) -> None:
        """Tell the user without blocking anything (status bar and a modeless box)."""
        self.last_notice = text
        self.statusBar().showMessage(text, 15000)
        if self.notice is not None:
            self.notice.close()
        self.notice = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        self.notice.setWindowModality(Qt.WindowModality.NonModal)
        self.notice.show()

    # -- campaigns -----------------------------------------------------------
    def validate_flow(self) -> bool:
        """Validate now; errors show on the canvas and in Problems. True if it can run."""
        self.document.revalidate()
        findings = self.document.findings
        errors = [f for f in findings if f.is_error]
        if errors:
            self.tabs.show_flow()
            self.editor_window.findings_dock.show()
            first = errors[0]
            if first.node:
                self.editor.reveal_node(first.node)
        self.statusBar().showMessage(
            f"{len(errors)} error{'s' if len(errors) != 1 else ''} to fix before running." if errors
            else ("No problems found." if not findings else f"{len(findings)} warnings; the flow can run."), 8000)
        return not has_errors(findings)

    def ask_run_options(self, simulated: bool) -> Optional[RunRequest]:
        """The lead list (and speed) for a run; None if the user cancels. Overridable."""
        speed = float(self.settings.value(SPEED_KEY, 3600.0))
        dialog = RunDialog(self.document.flow.name, simulated, self.leads_path, speed, self, self.run_target())
        if dialog.exec() != RunDialog.DialogCode.Accepted:
            return None
        return dialog.request()

    def run_target(self) -> RunTarget:
        """Where a real run would send and from whom, for the Run dialog (``app/campaign_launch.py``)."""
        return run_target(self.document.flow, AppSettings.load(self.settings), self.engine_facts,
                          self.engine.options, self.engine.tracking_port)

    def run_campaign(self, simulated: bool = False) -> bool:
        """Campaign > Run / Simulate: validate, ask for leads, then start it."""
        if not self.validate_flow():
            self.notify("The flow has errors", "Fix the problems marked on the canvas before running.")
            return False
        if not self.engine.is_ready:
            self.notify("The engine is not running", "Wait a moment for the engine to start, then try again.")
            return False
        request = self.ask_run_options(simulated)
        if request is None or not request.imported.leads:
            return False
        self.leads_path = request.leads_path
        self.document.set_lead_file(self.leads_path)
        self.settings.setValue("run/leads", str(request.leads_path))
        if simulated:
            self.settings.setValue(SPEED_KEY, request.speed)
        self._start(request)
        return True

    @asyncSlot()
    async def _start(self, request: RunRequest) -> None:
        flow = self.document.flow.copy()
        if not request.simulated and not await self._engine_for(request):
            return
        try:
            campaign_id = await self.engine.client.start_campaign(
                flow_to_run(flow, AppSettings.load(self.settings)), request.lead_payload(),
                simulated=request.simulated, speed=request.speed, name=flow.name)
        except EngineError as exc:
            self.notify("The campaign did not start", str(exc))
            return
        self.open_run(campaign_id, flow, request.simulated)
        await link_started(self.document, self.engine.client, campaign_id)  # SEMANTICS 12: the file names it
        self.statusBar().showMessage(f"Campaign {campaign_id} started with {len(request.imported.leads)} leads.",
                                     8000)

    async def _engine_for(self, request: RunRequest) -> bool:
        """Restart the engine pulling from the relay (links pointing there) or without it, as this
        real run asks (``engine_relay_for``); False, with the sentence, when it cannot start."""
        try:
            running = [c["id"] for c in await self.engine.client.campaigns()
                       if c.get("state") == "running" and not c.get("simulated")]
        except EngineError as exc:
            self.notify("The campaign did not start", str(exc))
            return False
        wanted, why = engine_relay_for(request.through_relay, self.document.flow, AppSettings.load(self.settings),
                                       self.engine_facts, self.engine.options, self.engine.tracking_port, running)
        if wanted is None:
            self.notify("The campaign did not start", why)
            return False
        if wanted != self.engine.options.relay_url:
            self.statusBar().showMessage("Restarting the engine " + (f"through the relay at {wanted}…" if wanted
                                                                     else "for local tracking…"), 8000)
            try:
                await self.engine.restart_with(replace(self.engine.options, relay_url=wanted))
                self.engine_facts = await self.engine.client.health()  # its public URL is the relay's now
            except EngineError as exc:
                self.notify("The engine cannot start", str(exc))
                return False
        # Kept for the next launch: campaigns sent through the relay go on pulling from it.
        self.settings.setValue(ENGINE_RELAY_KEY, wanted)
        return True

    def open_run(self, campaign_id: int, flow: Flow, simulated: bool, focus: bool = True) -> RunView:
        view = self.runs.get(campaign_id)
        if view is None:
            view = RunView(self.engine, campaign_id, flow, simulated, flow_source=lambda: self.document.flow)
            view.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
            view.changes.published.connect(lambda _number, data, cid=campaign_id, sim=simulated:
                                           self._show_published(cid, data, sim))
            view.changes.linkRequested.connect(lambda uid: link_document(self.document, uid))
            view.changes.canvas = lambda: self.editor.scene
        return self.tabs.add_run(view, focus)

    def _show_published(self, campaign_id: int, data: dict, simulated: bool) -> None:
        """A version was published from a run's bar: its tab shows the campaign's new flow."""
        old = self.runs.get(campaign_id)
        if old is not None:
            self.tabs.close_run(self.tabs.indexOf(old))
        self.open_run(campaign_id, loads_flow(json.dumps(data)), simulated)

    def current_run(self) -> Optional[RunView]:
        return self.tabs.current_run()

    def on_run(self, method: str, *args: Any) -> None:
        """A Campaign menu command for the run in front (pause, skip, speed, stop)."""
        run = self.current_run()
        if run is not None:
            getattr(run, method)(*args)

    def _update_campaign_actions(self) -> None:
        run = self.current_run()
        self.editor_window.zoom_label.setVisible(run is None)  # the editor canvas's zoom, not the run's
        sim = run is not None and run.simulated and run.is_active
        self.actions["pause"].setEnabled(run is not None and run.is_active)  # real runs pause their sending
        self.actions["skip"].setEnabled(sim)
        self.speed_menu.setEnabled(sim)
        self.actions["stop"].setEnabled(run is not None and run.state != "stopped")
        self.actions["report"].setEnabled(run is not None)
        for name in ("run", "simulate", "validate"):
            self.actions[name].setEnabled(run is None)
        if run is not None:
            for action in self.speed_group.actions():
                action.setChecked(action.data() == run.figures.get("speed"))
        active = self.tabs.active_runs()
        self._show_relay_status()
        if run is not None:
            self.campaign_label.setText(f"Campaign {run.campaign_id}: {run.state_text}")
        elif active:
            self.campaign_label.setText(f"{len(active)} campaign{'s' if len(active) != 1 else ''} running")
        else:
            self.campaign_label.setText("No campaign running")

    def _show_relay_status(self) -> None:
        """The relay's line in the status bar while a real run through it is open."""
        relay = self.engine.options.relay_url
        through = bool(relay) and any(not r.simulated for r in self.runs.values())
        if through and (self.relay_label.isHidden() or self.relay_label.url != relay):
            from engine.relay.secrets import installation_sync_secret

            self.relay_label.set_relay(relay, installation_sync_secret().decode())
            self.relay_label.start()
            self.relay_label.show()
        elif not through and not self.relay_label.isHidden():
            self.relay_label.timer.stop()
            self.relay_label.hide()

    # -- side windows --------------------------------------------------------
    def open_settings(self) -> None:
        dialog = SettingsDialog(AppSettings.load(self.settings), self)
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            dialog.result_settings().save(self.settings)
            self.statusBar().showMessage("Settings saved; they apply the next time the engine starts.", 8000)

    def _show_side_window(self, view: Any, title: str, size: QSize) -> QWidget:
        """Show a window of its own beside this one, closed with it, and fill it from the engine."""
        view.setWindowTitle(title)
        view.resize(size)
        view.show()
        self.side_windows.append(view)
        view.refresh_task = asyncio.ensure_future(view.refresh())
        return view

    def open_mailbox(self) -> Optional[QWidget]:
        if self.engine.client is None:
            return None
        return self._show_side_window(MailboxView(self.engine.client), "Sandbox mailbox — Mailbranch",
                                      side_window_size(1100, 720))

    def open_suppression_list(self) -> Optional[QWidget]:
        """The installation's suppression list (SEMANTICS 12), in its own window."""
        if self.engine.client is None:
            self.statusBar().showMessage("The engine is not running yet; try again in a moment.", 5000)
            return None
        return self._show_side_window(SuppressionView(self.engine.client), "Suppression list — Mailbranch",
                                      QSize(760, 560))

    def open_report(self) -> Optional[QWidget]:
        run = self.current_run()
        if run is None or self.engine.client is None:
            return None
        return self._show_side_window(ReportView(self.engine.client, run.campaign_id, flow=run.flow),
                                      f"Report — campaign {run.campaign_id}", side_window_size(1000, 720))

    def show_about(self) -> None:
        QMessageBox.about(self, "About Mailbranch",
                          "<b>Mailbranch</b><br>Draw email campaigns on a canvas and run them.")

    def data_location_text(self) -> str:
        o = self.engine.options
        return (f"Data folder: {o.data_dir}\nDatabase: {o.database}\nEngine log: {self.engine.log_path}\n"
                f"Engine state: {self.engine.state_path}")

    def show_data_location(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "Where your data lives", self.data_location_text(),
                          QMessageBox.StandardButton.Ok, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.open()

    # -- closing -------------------------------------------------------------
    def ask_keep_running(self, active: list[RunView]) -> str:
        """KEEP the engine running in the background, STOP it, or CANCEL. Overridable."""
        box = QMessageBox(QMessageBox.Icon.Question, "Campaigns are running",
                          f"{len(active)} campaign{'s are' if len(active) != 1 else ' is'} still running. "
                          "Keep running in the background? Mailbranch reattaches when you open it again.",
                          QMessageBox.StandardButton.NoButton, self)
        keep = box.addButton("Keep running", QMessageBox.ButtonRole.AcceptRole)
        stop = box.addButton("Stop the engine", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setInformativeText("If you stop the engine, campaigns wait and carry on from where they were "
                               "the next time Mailbranch starts.")
        box.exec()
        clicked = box.clickedButton()
        return KEEP if clicked is keep else STOP if clicked is stop else CANCEL

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing_done:
            event.accept()
            return
        event.ignore()
        if self._close_task is not None or not self.editor_window.maybe_save():
            return
        active = self.tabs.active_runs()
        choice = self.ask_keep_running(active) if active and self.engine.is_ready else STOP
        if choice != CANCEL:
            self._close_task = self._finish_close(choice)

    @asyncSlot()
    async def _finish_close(self, choice: str) -> None:
        self.tabs.close_all()
        for window in self.side_windows:
            window.close()
        if choice == KEEP:
            await self.engine.detach()
        elif self.engine.state != "stopped":
            await self.engine.shutdown()
        self._closing_done = True
        self.close()

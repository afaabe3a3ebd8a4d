"""The Mailbranch main window: the flow editor, the engine, and a tab per run.

It is the editor's window (``EditorWindow``: open, save, export, questions
through overridable methods) with the canvas moved into the first tab of a
``QTabWidget``; each running campaign gets a ``RunView`` tab beside it. The
engine process is started (or reattached) once the window shows; every call
to it goes through ``self.engine.client``, so runs survive an engine restart.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QMessageBox, QTabWidget, QToolBar, QWidget
from qasync import asyncSlot

from app.client import EngineError
from app.engine_process import EngineOptions, EngineProcess
from app.paths import SAMPLE_FLOW, SAMPLE_LEADS, data_dir
from app.run_dialog import RunDialog, RunRequest, RunTarget
from app.run_view import SPEEDS, RunView
from app.suppression_view import SuppressionView
from editor.window import EditorWindow, default_window_size
from engine.delivery.render import DEFAULT_SENDER
from engine.flow.fileformat import dumps_flow, loads_flow
from engine.flow.model import Flow
from engine.flow.validate import has_errors

try:  # widgets built by another engineer; the menu items stay disabled until they land
    from app.settings import AppSettings
    from app.settings_dialog import SettingsDialog
except ImportError:  # pragma: no cover - depends on what is committed
    AppSettings = SettingsDialog = None  # type: ignore[assignment,misc]
try:
    from app.mailbox_view import MailboxView
except ImportError:  # pragma: no cover
    MailboxView = None  # type: ignore[assignment,misc]
try:
    from app.report_view import ReportView
except ImportError:  # pragma: no cover
    ReportView = None  # type: ignore[assignment,misc]

#: One key for the simulation speed: the Settings dialog's default and the last speed chosen to run.
SPEED_KEY = "simulation/speed"
KEEP = "keep"
STOP = "stop"
CANCEL = "cancel"
MAX_RECENT = 8


def side_window_size(width: int, height: int) -> QSize:
    """A mailbox or report window's size, never larger than the screen's free area."""
    most = default_window_size()
    return QSize(min(width, most.width()), min(height, most.height()))


def app_settings() -> QSettings:
    return QSettings("Mailbranch", "App")


def options_from_settings() -> EngineOptions:
    """Engine options from the saved settings (defaults when there are none)."""
    if AppSettings is None:
        return EngineOptions()
    s = AppSettings.load(app_settings())
    return EngineOptions(data_dir=data_dir(), db_path=Path(s.db_path) if s.db_path else None,
                         smtp_url=s.smtp_url, tracking_host=s.tracking_host, tracking_port=int(s.tracking_port),
                         public_url=s.public_url)


class MainWindow(EditorWindow):
    def __init__(self, path: Optional[str | Path] = None, engine_options: Optional[EngineOptions] = None,
                 leads_path: Optional[str | Path] = None, parent: Optional[QWidget] = None) -> None:
        self.runs: dict[int, RunView] = {}
        super().__init__(None, parent)
        self.setObjectName("MainWindow")
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
        self._dock_state: Optional[list[bool]] = None
        #: What the engine says about itself (/health): where real runs send, the public URL.
        self.engine_facts: dict[str, Any] = {}

        view = self.takeCentralWidget()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setTabsClosable(True)
        self.tabs.addTab(view, "Flow")
        self.tabs.tabBar().setTabButton(0, self.tabs.tabBar().ButtonPosition.RightSide, None)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.setCentralWidget(self.tabs)

        self.engine_label = QLabel("Engine: not started")
        self.campaign_label = QLabel("No campaign running")
        self.statusBar().addPermanentWidget(self.campaign_label)
        self.statusBar().addPermanentWidget(self.engine_label)
        self.engine.stateChanged.connect(self.engine_label.setText)
        self.engine.lost.connect(lambda text: self.notify("The engine stopped", text))
        self.engine.failed.connect(lambda text: self.notify("The engine cannot run", text))
        self.engine.ready.connect(self._engine_ready)
        self.document.pathChanged.connect(self._remember_path)
        self._update_campaign_actions()
        self.open_initial(path)

    # -- menus ---------------------------------------------------------------
    def _add(self, name: str, text: str, slot: Any, keys: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if keys is not None:
            action.setShortcuts(keys if isinstance(keys, QKeySequence.StandardKey) else [QKeySequence(keys)])
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False, s=slot: s())
        self.actions[name] = action
        return action

    def _build_menus(self) -> None:
        a = self.actions
        a["close"].setText("&Quit")
        a["close"].setShortcuts(QKeySequence.StandardKey.Quit)
        self._add("settings", "Se&ttings…", self.open_settings, tip="Outgoing server, tracking, database")
        self._add("validate", "&Validate", self.validate_flow, "Ctrl+Shift+V", "Check the flow for problems")
        self._add("run", "&Run…", lambda: self.run_campaign(False), "Ctrl+R",
                  "Send this campaign for real to a lead list")
        self._add("simulate", "&Simulate…", lambda: self.run_campaign(True), "Ctrl+Shift+R",
                  "Run on a simulated clock; emails go to the sandbox only")
        self._add("pause", "&Pause / Resume", lambda: self._on_run("toggle_pause"), "Ctrl+P")
        self._add("skip", "S&kip to Next Timer", lambda: self._on_run("skip"), "Ctrl+J")
        self._add("stop", "S&top Campaign", lambda: self._on_run("stop"))
        self._add("report", "&Report…", self.open_report, tip="Funnel, chart and CSV export of this run")
        self._add("mailbox", "Sandbox &Mailbox", self.open_mailbox, tip="Emails the sandbox captured")
        self._add("suppression", "Suppression &List…", self.open_suppression_list,
                  tip="Addresses no campaign emails: unsubscribes, bounces, complaints")
        self._add("about", "&About Mailbranch", self.show_about)
        self._add("where", "Where Is My &Data?", self.show_data_location)

        menu = self.menuBar().addMenu("&File")
        for name in ("new", "open"):
            menu.addAction(a[name])
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        menu.addSeparator()
        for name in ("save", "save_as", "export", None, "settings", None, "close"):
            menu.addSeparator() if name is None else menu.addAction(a[name])
        menu = self.menuBar().addMenu("&Edit")
        for name in ("undo", "redo", None, "cut", "copy", "paste", "duplicate", "delete", None, "select_all"):
            menu.addSeparator() if name is None else menu.addAction(a[name])
        menu = self.menuBar().addMenu("&Campaign")
        for name in ("validate", None, "run", "simulate", None, "pause", "skip"):
            menu.addSeparator() if name is None else menu.addAction(a[name])
        self.speed_menu = QMenu("Spee&d", self)
        self.speed_group = QActionGroup(self)
        for label, value in SPEEDS:
            action = self.speed_menu.addAction(label)
            action.setCheckable(True)
            action.setData(value)
            self.speed_group.addAction(action)
            action.triggered.connect(lambda _c=False, v=value: self._on_run("set_speed", v))
        menu.addMenu(self.speed_menu)
        for name in ("stop", None, "report", "suppression"):
            menu.addSeparator() if name is None else menu.addAction(a[name])
        menu = self.menuBar().addMenu("&View")
        for name in ("zoom_in", "zoom_out", "zoom_reset", "zoom_fit", None, "snap", "arrange", None, "mailbox"):
            menu.addSeparator() if name is None else menu.addAction(a[name])
        menu.addSeparator()
        for dock in (self.palette_dock, self.inspector_dock, self.findings_dock):
            menu.addAction(dock.toggleViewAction())
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(a["about"])
        menu.addAction(a["where"])
        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("MainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for name in ("new", "open", "save", None, "undo", "redo", None, "zoom_fit", None, "validate", "simulate",
                     "run"):
            toolbar.addSeparator() if name is None else toolbar.addAction(a[name])
        self.addToolBar(toolbar)
        a["settings"].setEnabled(SettingsDialog is not None)
        a["mailbox"].setEnabled(MailboxView is not None)
        a["report"].setEnabled(ReportView is not None)

    # -- files ---------------------------------------------------------------
    def open_initial(self, path: Optional[str | Path]) -> None:
        """The file asked for; else the last one; else (first start) the sample campaign."""
        if path is not None:
            self.open_path(path, ask=False)
            return
        for recent in self.recent_files():
            if Path(recent).is_file() and self.open_path(recent, ask=False):
                return
        sample = data_dir() / "spring-offer-sample.json"
        if not sample.exists():
            shutil.copyfile(SAMPLE_FLOW, sample)
        self.open_path(sample, ask=False)
        self.leads_path = SAMPLE_LEADS

    def recent_files(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value] if value else []
        return [str(x) for x in value or []]

    def _remember_path(self) -> None:
        path = self.document.path
        if path is None:
            return
        first = str(Path(path).resolve())
        rest = [p for p in self.recent_files() if p != first and Path(p).is_file()]
        self.settings.setValue("files/recent", [first, *rest][:MAX_RECENT])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.recent_files()
        for path in files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setStatusTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        if not files:
            self.recent_menu.addAction("No recent files").setEnabled(False)

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
            self.tabs.setCurrentIndex(0)
            self.findings_dock.show()
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
        """Where a real run would send: from the running engine's own word, else from the settings."""
        facts, options = self.engine_facts, self.engine.options
        if "outgoing" in facts:
            outgoing = facts["outgoing"]
        else:
            url = (options.smtp_url or "sandbox").strip()
            outgoing = None if url.lower() == "sandbox" else url.split("@")[-1].split("://")[-1]
        public = facts.get("tracking") or options.public_url or \
            f"http://{options.tracking_host}:{self.engine.tracking_port or options.tracking_port}"
        senders = list(dict.fromkeys(n.get("sender") or DEFAULT_SENDER
                                     for n in self.document.flow.nodes if n.type == "email"))
        return RunTarget(outgoing, public, senders)

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
        try:
            campaign_id = await self.engine.client.start_campaign(
                json.loads(dumps_flow(flow)), request.lead_payload(), simulated=request.simulated,
                speed=request.speed, name=flow.name)
        except EngineError as exc:
            self.notify("The campaign did not start", str(exc))
            return
        self.open_run(campaign_id, flow, request.simulated)
        self.statusBar().showMessage(f"Campaign {campaign_id} started with {len(request.imported.leads)} leads.",
                                     8000)

    def open_run(self, campaign_id: int, flow: Flow, simulated: bool, focus: bool = True) -> RunView:
        view = self.runs.get(campaign_id)
        if view is None:
            view = RunView(self.engine, campaign_id, flow, simulated)
            view.stateChanged.connect(self._run_state_changed)
            view.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
            self.runs[campaign_id] = view
            mark = "Simulation" if simulated else "Run"
            index = self.tabs.addTab(view, f"{mark} {campaign_id}: {flow.name}")
            self.tabs.setTabToolTip(index, f"{flow.name} — campaign {campaign_id}")
        if focus:
            self.tabs.setCurrentWidget(view)
        self._update_campaign_actions()
        return view

    def current_run(self) -> Optional[RunView]:
        widget = self.tabs.currentWidget()
        return widget if isinstance(widget, RunView) else None

    def _on_run(self, method: str, *args: Any) -> None:
        run = self.current_run()
        if run is not None:
            getattr(run, method)(*args)

    def close_tab(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if isinstance(widget, RunView):
            widget.close_view()
            self.tabs.removeTab(index)
            self.runs.pop(widget.campaign_id, None)
            widget.deleteLater()
            self._update_campaign_actions()

    def _tab_changed(self, _index: int) -> None:
        """The editor's docks belong to the Flow tab: hidden over a run, back as they were after."""
        run = self.current_run()
        docks = (self.palette_dock, self.inspector_dock, self.findings_dock)
        if run is not None and self._dock_state is None:
            self._dock_state = [d.isVisible() for d in docks]
            for dock in docks:
                dock.hide()
        elif run is None and self._dock_state is not None:
            for dock, visible in zip(docks, self._dock_state, strict=True):
                dock.setVisible(visible)
            self._dock_state = None
        self.zoom_label.setVisible(run is None)  # the editor canvas's zoom, not the run's
        self._update_campaign_actions()

    def _run_state_changed(self, _campaign_id: int, _text: str) -> None:
        self._update_campaign_actions()

    def _update_campaign_actions(self) -> None:
        if not hasattr(self, "tabs"):
            return
        run = self.current_run()
        sim = run is not None and run.simulated and run.is_active
        self.actions["pause"].setEnabled(run is not None and run.is_active)  # real runs pause their sending
        self.actions["skip"].setEnabled(sim)
        self.speed_menu.setEnabled(sim)
        self.actions["stop"].setEnabled(run is not None and run.state != "stopped")
        self.actions["report"].setEnabled(run is not None and ReportView is not None)
        for name in ("run", "simulate", "validate"):
            self.actions[name].setEnabled(run is None)
        if run is not None:
            for action in self.speed_group.actions():
                action.setChecked(action.data() == run.figures.get("speed"))
        active = [r for r in self.runs.values() if r.is_active]
        if run is not None:
            self.campaign_label.setText(f"Campaign {run.campaign_id}: {run.state_text}")
        elif active:
            self.campaign_label.setText(f"{len(active)} campaign{'s' if len(active) != 1 else ''} running")
        else:
            self.campaign_label.setText("No campaign running")

    # -- side views (built elsewhere) -----------------------------------------
    def open_settings(self) -> None:
        if SettingsDialog is None or AppSettings is None:
            return
        dialog = SettingsDialog(AppSettings.load(self.settings), self)
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            dialog.result_settings().save(self.settings)
            self.statusBar().showMessage("Settings saved; they apply the next time the engine starts.", 8000)

    def open_mailbox(self) -> Optional[QWidget]:
        if MailboxView is None or self.engine.client is None:
            return None
        view = MailboxView(self.engine.client)
        view.setWindowTitle("Sandbox mailbox — Mailbranch")
        view.resize(side_window_size(1100, 720))
        view.show()
        self.side_windows.append(view)
        view.refresh_task = _spawn(view.refresh())
        return view

    def open_suppression_list(self) -> Optional[QWidget]:
        """The installation's suppression list (SEMANTICS 12), in its own window."""
        if self.engine.client is None:
            self.statusBar().showMessage("The engine is not running yet; try again in a moment.", 5000)
            return None
        view = SuppressionView(self.engine.client)
        view.setWindowTitle("Suppression list — Mailbranch")
        view.resize(760, 560)
        view.show()
        self.side_windows.append(view)
        view.refresh_task = _spawn(view.refresh())
        return view

    def open_report(self) -> Optional[QWidget]:
        run = self.current_run()
        if ReportView is None or run is None or self.engine.client is None:
            return None
        view = ReportView(self.engine.client, run.campaign_id, flow=run.flow)
        view.setWindowTitle(f"Report — campaign {run.campaign_id}")
        view.resize(side_window_size(1000, 720))
        view.show()
        self.side_windows.append(view)
        view.refresh_task = _spawn(view.refresh())
        return view

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
    def active_runs(self) -> list[RunView]:
        return [r for r in self.runs.values() if r.is_active]

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
        if self._close_task is not None or not self.maybe_save():
            event.ignore()
            return
        choice = STOP
        active = self.active_runs()
        if active and self.engine.is_ready:
            choice = self.ask_keep_running(active)
        if choice == CANCEL:
            event.ignore()
            return
        event.ignore()
        self._close_task = self._finish_close(choice)

    @asyncSlot()
    async def _finish_close(self, choice: str) -> None:
        for run in self.runs.values():
            run.close_view()
        for window in self.side_windows:
            window.close()
        if choice == KEEP:
            await self.engine.detach()
        elif self.engine.state != "stopped":
            await self.engine.shutdown()
        self._closing_done = True
        self.close()


def _spawn(coro: Any) -> Any:
    import asyncio

    return asyncio.ensure_future(coro)

"""``EditorWindow``: a ``FlowEditor`` with its docks and files (new, open,
save, save as, export).

On its own (``python -m editor``) it is a window with menus, a toolbar and a
status bar. The app's main window holds one as a child instead
(``standalone=False``): then it builds no menus, toolbar or Close action and
sends its status messages out through ``message``, and the host puts its
``actions`` in its own menus. A QMainWindow rather than a plain widget, so
that the palette, inspector and Problems panels stay docks inside it.

Questions to the user go through small overridable methods
(``ask_save_changes``, ``choose_open_path``, ``choose_save_path``) so tests
and the app shell can answer them without a modal dialog.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QRect, QSettings, QSize, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QToolBar,
    QWidget,
)

from editor import style
from editor.controller import FlowEditor
from editor.layout import apply_missing_positions
from engine.flow.fileformat import FlowFileError, dumps_flow, load_flow, save_flow
from engine.flow.model import Flow, Node
from engine.nodes.registry import node_types
from engine.runtime.home import mailbranch_home

FILE_FILTER = "Mailbranch flows (*.json);;All files (*)"
SAVE = "save"
DISCARD = "discard"
CANCEL = "cancel"
#: The size the window asks for when the screen has room for it.
PREFERRED_SIZE = QSize(1360, 820)
#: What a window manager's title bar and borders take around the window (not part of ``resize()``).
FRAME_ALLOWANCE = QSize(16, 40)
#: Height of the Problems panel when the window opens: its title, the summary and four findings.
PROBLEMS_HEIGHT = 165
#: The Edit menu and the start of the View menu, the same in the editor and in the app.
EDIT_MENU = ("undo", "redo", None, "cut", "copy", "paste", "duplicate", "delete", None, "select_all")
VIEW_MENU = ("zoom_in", "zoom_out", "zoom_reset", "zoom_fit", None, "snap", "arrange")


def documents_dir() -> str:
    """Where file dialogs start: the user's Documents folder, else their home.

    Never the app's data folder or the source tree: a marketer looks for
    their files where their other documents are.
    """
    for folder in QStandardPaths.standardLocations(QStandardPaths.StandardLocation.DocumentsLocation):
        if folder and Path(folder).is_dir():
            return folder
    return str(Path.home())


def is_private_folder(folder: Path) -> bool:
    """The app's data folder or its bundled resources: places a file dialog should not start in."""
    folder = folder.resolve()
    for private in (mailbranch_home(), style.RESOURCES):
        try:
            folder.relative_to(private.resolve())
            return True
        except ValueError:
            continue
    return False


def default_window_size(available: QRect | None = None) -> QSize:
    """The preferred size, shrunk to the screen's free area (panels and the frame left out)."""
    if available is None:
        screen = QGuiApplication.primaryScreen()
        available = screen.availableGeometry() if screen is not None else QRect(0, 0, 1366, 768)
    return QSize(min(PREFERRED_SIZE.width(), available.width() - FRAME_ALLOWANCE.width()),
                 min(PREFERRED_SIZE.height(), available.height() - FRAME_ALLOWANCE.height()))


def add_actions(target: QMenu | QToolBar, actions: dict[str, QAction], names: Iterable[Optional[str]]) -> None:
    """Put the named actions in a menu or toolbar, in order; None is a separator."""
    for name in names:
        target.addSeparator() if name is None else target.addAction(actions[name])


def main_toolbar(window: QMainWindow) -> QToolBar:
    """The window's one fixed toolbar, text only (the actions have no icons)."""
    toolbar = QToolBar("Main", window)
    toolbar.setObjectName("MainToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    window.addToolBar(toolbar)
    return toolbar


def new_flow() -> Flow:
    """A new document: the entry step (Start), ready for the first email."""
    flow = Flow("Untitled campaign")
    entry = next(kind for kind in node_types() if kind.is_entry)
    flow.add_node(Node(entry.id_prefix, entry.name, entry.defaults(), {"position": [0, 0]}))
    return flow


def logic_only(flow: Flow) -> Flow:
    """A copy without layout fields (positions, notes), as the engine needs it."""
    copy = flow.copy()
    for node in copy.nodes:
        node.extra.clear()
    for edge in copy.edges:
        edge.extra.clear()
    return copy


class EditorWindow(QMainWindow):
    #: A status-bar message and how long it stays, in ms (0: until the next one).
    message = Signal(str, int)

    def __init__(self, path: Optional[str | Path] = None, parent: Optional[QWidget] = None, *,
                 standalone: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("EditorWindow")
        self.standalone = standalone
        self.editor = FlowEditor(new_flow(), self)
        self.document = self.editor.document
        #: The last error shown (a broken file, a failed save), for the status bar and tests.
        self.last_error: Optional[str] = None
        self.error_box: Optional[QMessageBox] = None
        self.setCentralWidget(self.editor.view)
        self.palette_dock = self._dock("Steps", self.editor.palette, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", self.editor.inspector,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.findings_dock = self._dock("Problems", self.editor.findings, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.palette_dock.setMinimumWidth(170)
        self.inspector_dock.setMinimumWidth(320)
        self.findings_dock.setMinimumHeight(110)
        self.actions: dict[str, QAction] = dict(self.editor.actions)
        self._build_file_actions()
        self.editor.install_actions(self)
        #: The canvas's zoom, for a status bar (this window's own, or the host's).
        self.zoom_label = QLabel()
        self.editor.view.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{round(z * 100)}%"))
        self.editor.message.connect(lambda text: self.show_message(text, 5000))
        if standalone:
            self._build_menus()
            self.statusBar().addPermanentWidget(self.zoom_label)
            self.message.connect(self.statusBar().showMessage)
            self.setStyleSheet(style.stylesheet("light"))
            self.resize(default_window_size())
        self.document.modifiedChanged.connect(self.setWindowModified)
        self.document.nameChanged.connect(lambda _n: self._update_title())
        self.document.pathChanged.connect(self._update_title)
        self.document.findingsChanged.connect(self._update_status)
        self._fit_pending = True
        self._docks_sized = False
        self._update_title()
        if path is not None:
            self.open_path(path)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title}Dock")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_file_actions(self) -> None:
        sk = QKeySequence.StandardKey
        for name, text, slot, keys in (
            ("new", "&New", self.new_document, sk.New),
            ("open", "&Open…", self.open_document, sk.Open),
            ("save", "&Save", self.save, sk.Save),
            ("save_as", "Save &As…", self.save_as, sk.SaveAs),
            ("export", "&Export JSON…", self.export_json, QKeySequence("Ctrl+E")),
            *([("close", "&Close", self.close, sk.Close)] if self.standalone else []),
        ):
            action = QAction(text, self)
            action.setShortcuts(keys if isinstance(keys, QKeySequence.StandardKey) else [keys])
            action.triggered.connect(lambda _checked=False, s=slot: s())
            self.actions[name] = action
        self.actions["export"].setStatusTip("Write the flow's logic (no positions or notes) to another file")

    def _build_menus(self) -> None:
        add_actions(self.menuBar().addMenu("&File"), self.actions,
                    ("new", "open", None, "save", "save_as", "export", None, "close"))
        add_actions(self.menuBar().addMenu("&Edit"), self.actions, EDIT_MENU)
        self.fill_view_menu(self.menuBar().addMenu("&View"), self.actions, ())
        add_actions(main_toolbar(self), self.actions, ("new", "open", "save", None, "undo", "redo", None, "delete",
                                                       "duplicate", None, "zoom_fit", "arrange"))

    def fill_view_menu(self, menu: QMenu, actions: dict[str, QAction], extra: Sequence[Optional[str]]) -> None:
        """Zoom, snap and arrange, ``extra`` (names in ``actions``), then a switch for each panel."""
        add_actions(menu, actions, (*VIEW_MENU, *extra, None))
        for dock in (self.palette_dock, self.inspector_dock, self.findings_dock):
            menu.addAction(dock.toggleViewAction())

    # -- title and status -----------------------------------------------
    def show_message(self, text: str, timeout: int = 0) -> None:
        """A status-bar message: in this window's status bar, or in the host's (``message``)."""
        self.message.emit(text, timeout)

    def _update_title(self) -> None:
        path = self.document.path
        where = path.name if path is not None else "not saved yet"
        self.setWindowTitle(f"{self.document.flow.name} — {where}[*] — Mailbranch")
        self.setWindowModified(self.document.modified)

    def _update_status(self) -> None:
        findings = self.document.findings
        errors = sum(1 for f in findings if f.is_error)
        if errors:
            self.show_message(f"{errors} error{'s' if errors != 1 else ''} to fix before running.")
        else:
            self.show_message("Ready to run." if not findings else "Ready to run (with warnings).")

    # -- questions (overridable) ----------------------------------------
    def ask_save_changes(self) -> str:
        """Return SAVE, DISCARD or CANCEL for unsaved changes."""
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"“{self.document.flow.name}” has changes that are not saved. Save them first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        return {QMessageBox.StandardButton.Save: SAVE,
                QMessageBox.StandardButton.Discard: DISCARD}.get(answer, CANCEL)

    def choose_open_path(self) -> Optional[str]:
        path, _ = QFileDialog.getOpenFileName(self, "Open flow", self._last_dir(), FILE_FILTER)
        return path or None

    def choose_save_path(self, title: str = "Save flow") -> Optional[str]:
        path = self.document.path
        suggested = str(path if path is not None and not is_private_folder(path.parent)
                        else Path(self._last_dir()) / f"{self.document.flow.name}.json")
        path, _ = QFileDialog.getSaveFileName(self, title, suggested, FILE_FILTER)
        if path and not Path(path).suffix:
            path += ".json"
        return path or None

    def show_error(self, title: str, message: str) -> None:
        """Show an error without blocking (the document stays as it was)."""
        self.last_error = message
        self.show_message(message, 10000)
        if self.error_box is not None:
            self.error_box.close()
        self.error_box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                                     self)
        self.error_box.setWindowModality(Qt.WindowModality.WindowModal)
        self.error_box.open()

    def _last_dir(self) -> str:
        if self.document.path is not None and not is_private_folder(self.document.path.parent):
            return str(self.document.path.parent)
        last = str(QSettings("Mailbranch", "Editor").value("last_dir", "") or "")
        return last if last and Path(last).is_dir() else documents_dir()

    # -- files -----------------------------------------------------------
    def maybe_save(self) -> bool:
        """True if it is fine to drop the current document."""
        if not self.document.modified:
            return True
        answer = self.ask_save_changes()
        if answer == SAVE:
            return self.save()
        return answer == DISCARD

    def new_document(self) -> bool:
        if not self.maybe_save():
            return False
        self.document.set_flow(new_flow(), None)
        self.editor.view.reset_zoom()
        self.editor.view.centerOn(self.editor.scene.content_rect().center())
        return True

    def open_document(self) -> bool:
        if not self.maybe_save():
            return False
        path = self.choose_open_path()
        return self.open_path(path, ask=False) if path else False

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        """Open a flow file; a broken one shows its error and changes nothing."""
        if ask and not self.maybe_save():
            return False
        try:
            flow = load_flow(path)
        except FlowFileError as exc:
            self.show_error("Cannot open this flow", str(exc))
            return False
        apply_missing_positions(flow)
        self.document.set_flow(flow, Path(path))
        if not is_private_folder(Path(path).resolve().parent):
            QSettings("Mailbranch", "Editor").setValue("last_dir", str(Path(path).resolve().parent))
        self._fit_pending = True
        if self.isVisible():
            self._fit_now()
        self.show_message(f"Opened {Path(path).name}.", 5000)
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    def save_as(self) -> bool:
        path = self.choose_save_path()
        return self.save_to(Path(path)) if path else False

    def save_to(self, path: Path) -> bool:
        try:
            save_flow(self.document.flow, path)
        except OSError as exc:
            self.show_error("Cannot save", f"{path}: {exc.strerror or exc}")
            return False
        self.document.set_path(Path(path))
        self.document.mark_saved()
        self.show_message(f"Saved {Path(path).name}.", 5000)
        return True

    def export_json(self, path: Optional[str | Path] = None) -> bool:
        """Write the logic only (for the engine or the CLI); the document is unchanged."""
        path = path or self.choose_save_path("Export flow JSON")
        if not path:
            return False
        try:
            Path(path).write_text(dumps_flow(logic_only(self.document.flow)), encoding="utf-8")
        except OSError as exc:
            self.show_error("Cannot export", f"{path}: {exc.strerror or exc}")
            return False
        self.show_message(f"Exported {Path(path).name}.", 5000)
        return True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._docks_sized:
            self._docks_sized = True
            self.resizeDocks([self.findings_dock], [PROBLEMS_HEIGHT], Qt.Orientation.Vertical)
            self.resizeDocks([self.palette_dock, self.inspector_dock], [170, 360], Qt.Orientation.Horizontal)
        if self._fit_pending:
            QTimer.singleShot(0, self._fit_now)

    def _fit_now(self) -> None:
        """Show the whole flow once the view has its real size."""
        if not self._fit_pending:
            return
        self._fit_pending = False
        self.editor.view.zoom_to_fit(readable=True)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.maybe_save():
            event.accept()
        else:
            event.ignore()

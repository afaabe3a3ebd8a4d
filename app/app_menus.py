"""The main window's menu bar and toolbar: what a user finds where.

The editor's own actions (files, edit, view) come from the ``EditorWindow``
the main window holds; the app adds Quit, Settings, the campaign controls,
the side windows and Help. Built here, apart from the window's behaviour, so
the order of the menus can be read (and changed) in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from app.run_view import SPEEDS
from editor.window import EDIT_MENU, add_actions, main_toolbar

if TYPE_CHECKING:
    from app.main_window import MainWindow


def _add(window: MainWindow, name: str, text: str, slot: Any, keys: Any = None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if keys is not None:
        action.setShortcuts(keys if isinstance(keys, QKeySequence.StandardKey) else [QKeySequence(keys)])
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(lambda _checked=False, s=slot: s())
    window.actions[name] = action
    return action


def add_app_actions(window: MainWindow) -> None:
    """The app's own actions, next to the editor's in ``window.actions``."""
    _add(window, "close", "&Quit", window.close, QKeySequence.StandardKey.Quit)
    _add(window, "settings", "Se&ttings…", window.open_settings, tip="Outgoing server, tracking, database")
    _add(window, "validate", "&Validate", window.validate_flow, "Ctrl+Shift+V", "Check the flow for problems")
    _add(window, "run", "&Run…", lambda: window.run_campaign(False), "Ctrl+R",
         "Send this campaign for real to a lead list")
    _add(window, "simulate", "&Simulate…", lambda: window.run_campaign(True), "Ctrl+Shift+R",
         "Run on a simulated clock; emails go to the sandbox only")
    _add(window, "pause", "&Pause / Resume", lambda: window.on_run("toggle_pause"), "Ctrl+P")
    _add(window, "skip", "S&kip to Next Timer", lambda: window.on_run("skip"), "Ctrl+J")
    _add(window, "stop", "S&top Campaign", lambda: window.on_run("stop"))
    _add(window, "report", "&Report…", window.open_report, tip="Funnel, chart and CSV export of this run")
    _add(window, "mailbox", "Sandbox &Mailbox", window.open_mailbox, tip="Emails the sandbox captured")
    _add(window, "suppression", "Suppression &List…", window.open_suppression_list,
         tip="Addresses no campaign emails: unsubscribes, bounces, complaints")
    _add(window, "about", "&About Mailbranch", window.show_about)
    _add(window, "where", "Where Is My &Data?", window.show_data_location)


def build_menus(window: MainWindow) -> None:
    """File, Edit, Campaign, View and Help, and the toolbar; keeps ``recent_menu``, ``speed_menu`` and
    ``speed_group`` on the window for updating later."""
    a = window.actions
    bar = window.menuBar()
    menu = bar.addMenu("&File")
    add_actions(menu, a, ("new", "open"))
    window.recent_menu = menu.addMenu("Open &Recent")
    window.recent_menu.aboutToShow.connect(lambda: fill_recent_menu(window))
    add_actions(menu, a, (None, "save", "save_as", "export", None, "settings", None, "close"))
    add_actions(bar.addMenu("&Edit"), a, EDIT_MENU)
    menu = bar.addMenu("&Campaign")
    add_actions(menu, a, ("validate", None, "run", "simulate", None, "pause", "skip"))
    window.speed_menu = QMenu("Spee&d", window)
    window.speed_group = QActionGroup(window)
    for label, value in SPEEDS:
        action = window.speed_menu.addAction(label)
        action.setCheckable(True)
        action.setData(value)
        window.speed_group.addAction(action)
        action.triggered.connect(lambda _c=False, v=value: window.on_run("set_speed", v))
    menu.addMenu(window.speed_menu)
    add_actions(menu, a, ("stop", None, "report", "suppression"))
    window.editor_window.fill_view_menu(bar.addMenu("&View"), a, (None, "mailbox"))
    add_actions(bar.addMenu("&Help"), a, ("about", "where"))
    add_actions(main_toolbar(window), a, ("new", "open", "save", None, "undo", "redo", None, "zoom_fit", None,
                                          "validate", "simulate", "run"))


def fill_recent_menu(window: MainWindow) -> None:
    """File > Open Recent, filled as it opens (the list changes with every open and save)."""
    menu = window.recent_menu
    menu.clear()
    files = window.recent_files()
    for path in files:
        action = menu.addAction(Path(path).name)
        action.setStatusTip(path)
        action.triggered.connect(lambda _c=False, p=path: window.editor_window.open_path(p))
    if not files:
        menu.addAction("No recent files").setEnabled(False)

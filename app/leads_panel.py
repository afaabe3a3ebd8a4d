"""The leads panel of a run: who is where, one lead's timeline, simulated events.

A paged, searchable tree of the campaign's leads with their tokens (where
each is, its state, tracked or not). Selecting a lead loads its timeline
(sends, events, waits) and tells the run view which steps to highlight. The
buttons fire a simulated open or click on one of the lead's sends, through
the same tracking sink as a real one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from app.client import EngineError
from app.lead_timeline import (
    converted_text,
    lead_state,
    path_state,
    span,
    state_tip,
    subject_for,
    timeline_lines,
    wall,  # noqa: F401 - app/run_view.py imports it from here
)
from app.wrap_delegate import wrap_column
from editor.summary import step_name
from engine.flow.body import body_html
from engine.flow.links import extract_links
from engine.flow.model import Flow

if TYPE_CHECKING:
    from app.engine_process import EngineProcess

PAGE = 100
LEAD_COLUMN_WIDTH = 160
TRACKED_TIP = ("Tracked: how many of this lead's paths the campaign still counts on, of all its paths. "
               "A lead starts with one path; a YES answer starts a second one beside it. "
               "The first path, and any path that has gone down a NO branch, is tracked: the campaign "
               "is complete when every tracked path has reached an end. 2/3 means three paths, two tracked.")


class RefreshGate:
    """One background refresh at a time, and never a gate left shut for good.

    A refresh that never comes back (its task was dropped when a modal dialog
    re-entered the event loop, or the engine hung) would otherwise stop every
    later refresh; after ``STUCK_AFTER_S`` the next one goes ahead anyway.
    """

    STUCK_AFTER_S = 15.0  # longer than the client's own 10 s timeout

    def __init__(self) -> None:
        self.since: Optional[float] = None

    @property
    def busy(self) -> bool:
        return self.since is not None and time.monotonic() - self.since < self.STUCK_AFTER_S

    def enter(self) -> bool:
        if self.busy:
            return False
        self.since = time.monotonic()
        return True

    def leave(self) -> None:
        self.since = None


class LeadsPanel(QWidget):
    #: The steps the selected lead went through (empty when none is selected).
    highlightRequested = Signal(object)
    #: A sentence for the status bar.
    message = Signal(str)

    def __init__(self, engine: EngineProcess, campaign_id: int, flow: Flow,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.campaign_id = campaign_id
        self.flow = flow
        self.origin: Optional[int] = None
        self.offset = 0
        self.total = 0
        self.timeline: Optional[dict[str, Any]] = None
        self.last_error = ""
        #: The campaign was stopped: nothing can be simulated on it any more.
        self.stopped = False
        self._gate = RefreshGate()

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search leads (email or key)…")
        self.search.setClearButtonEnabled(True)
        self.prev_button = QPushButton("‹")
        self.next_button = QPushButton("›")
        self.page_label = QLabel()
        for b in (self.prev_button, self.next_button):
            b.setFixedWidth(28)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.prev_button)
        top.addWidget(self.page_label)
        top.addWidget(self.next_button)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Lead", "Where", "State", "Tracked"])
        header_item = self.tree.headerItem()
        header_item.setToolTip(1, "The steps where the lead's paths stand now")
        header_item.setToolTip(3, TRACKED_TIP)
        self.tree.setRootIsDecorated(True)
        # The state takes the room left and wraps ("waiting for the window (opens Mon 09:00 local)"
        # on two lines) rather than squeeze the addresses out of sight.
        wrap_column(self.tree, 2)
        self.tree.header().setStretchLastSection(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.setColumnWidth(0, LEAD_COLUMN_WIDTH)
        for col, mode in ((1, QHeaderView.ResizeMode.ResizeToContents), (2, QHeaderView.ResizeMode.Stretch),
                          (3, QHeaderView.ResizeMode.ResizeToContents)):
            self.tree.header().setSectionResizeMode(col, mode)

        self.lead_label = QLabel("Select a lead to see its timeline.")
        self.lead_label.setWordWrap(True)
        self.timeline_list = QListWidget()
        # Long subjects and links wrap instead of hiding behind a horizontal scroll bar.
        self.timeline_list.setWordWrap(True)
        self.timeline_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.timeline_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.timeline_list.setToolTip("What happened to this lead, in campaign time, causes before their effects")
        self.email_box = QComboBox()
        self.email_box.setToolTip("Which of the lead's emails the event is for")
        self.link_box = QComboBox()
        self.link_box.setToolTip("Which link the click follows")
        for box in (self.email_box, self.link_box):
            # Long subjects and URLs must not widen the panel (and with it the window).
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(8)
        self.open_button = QPushButton("Simulate open")
        self.click_button = QPushButton("Simulate click")
        events = QHBoxLayout()
        events.addWidget(self.email_box, 1)
        events.addWidget(self.link_box, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.click_button)
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #D92D20;")
        self.error_label.setWordWrap(True)

        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.lead_label)
        lower_layout.addWidget(self.timeline_list, 1)
        lower_layout.addLayout(events)
        lower_layout.addLayout(buttons)
        lower_layout.addWidget(self.error_label)
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addLayout(top)
        upper_layout.addWidget(self.tree, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(lower)
        split.setSizes([300, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(300)
        self._search_timer.timeout.connect(self._search_now)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.prev_button.clicked.connect(lambda: self._page(-PAGE))
        self.next_button.clicked.connect(lambda: self._page(PAGE))
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.email_box.currentIndexChanged.connect(self._fill_links)
        self.open_button.clicked.connect(self.fire_open)
        self.click_button.clicked.connect(self.fire_click)
        self._update_buttons()

    # -- data ----------------------------------------------------------------
    def selected_key(self) -> Optional[str]:
        items = self.tree.selectedItems()
        if not items:
            return None
        item = items[0]
        while item.parent() is not None:
            item = item.parent()
        return item.data(0, Qt.ItemDataRole.UserRole)

    def lead_keys(self) -> list[str]:
        return [self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
                for i in range(self.tree.topLevelItemCount())]

    def select_lead(self, key: str) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == key:
                self.tree.setCurrentItem(item)
                return True
        return False

    async def refresh(self) -> None:
        """Reload the page of leads shown (and the selected lead's timeline)."""
        client = self.engine.client
        if client is None or not self._gate.enter():
            return
        try:
            data = await client.leads(self.campaign_id, self.offset, PAGE, self.search.text().strip())
            self._fill(data)
            key = self.selected_key()
            if key is not None:
                await self._load_timeline(key)
        except EngineError as exc:
            self._show_error(str(exc))
        finally:
            self._gate.leave()

    def _fill(self, data: dict[str, Any]) -> None:
        self.total = int(data.get("total", 0))
        selected = self.selected_key()
        expanded = {self.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
                    for i in range(self.tree.topLevelItemCount()) if self.tree.topLevelItem(i).isExpanded()}
        self.tree.blockSignals(True)
        self.tree.clear()
        for lead in data.get("leads", []):
            tokens = lead.get("tokens", [])
            where = ", ".join(dict.fromkeys(t["node"] for t in tokens if t["state"] == "waiting")) or \
                ", ".join(dict.fromkeys(t["node"] for t in tokens))
            state = lead_state(lead, self.origin)
            tracked = sum(1 for t in tokens if t["tracked"])
            if lead.get("version", 1) > 1:  # the campaign's flow was changed while it ran (SEMANTICS 11)
                where += f" (v{lead['version']})"
            item = QTreeWidgetItem([lead["email"] or lead["key"], where, state, f"{tracked}/{len(tokens)}"])
            item.setData(0, Qt.ItemDataRole.UserRole, lead["key"])
            item.setToolTip(0, lead["key"])
            item.setToolTip(1, "\n".join(step_name(self.flow, n) for n in where.split(", ") if n))
            item.setToolTip(2, state_tip(tokens, state))
            item.setToolTip(3, f"{tracked} of this lead's {len(tokens)} path{'s' if len(tokens) != 1 else ''} "
                               "tracked. " + TRACKED_TIP)
            for t in tokens:
                child = QTreeWidgetItem([f"path {t['id']}" + (f" (from {t['parent']})" if t["parent"] else ""),
                                         t["node"], path_state([t]) if t.get("window") else t["state"],
                                         "yes" if t["tracked"] else "no"])
                child.setToolTip(1, step_name(self.flow, t["node"]))
                child.setToolTip(2, state_tip([t], child.text(2)))
                child.setToolTip(3, "Tracked: the campaign waits for this path to end" if t["tracked"]
                                 else "Not tracked: started by a YES answer; the campaign does not wait for it")
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            if lead["key"] in expanded:
                item.setExpanded(True)
            if lead["key"] == selected:
                item.setSelected(True)
                self.tree.setCurrentItem(item)
        self.tree.blockSignals(False)
        shown = len(data.get("leads", []))
        first = self.offset + 1 if shown else 0
        self.page_label.setText(f"{first}–{self.offset + shown} of {self.total}")
        self.prev_button.setEnabled(self.offset > 0)
        self.next_button.setEnabled(self.offset + shown < self.total)
        if selected is not None and self.selected_key() is None:
            self._selection_changed()

    def _page(self, delta: int) -> None:
        self.offset = max(0, self.offset + delta)
        self._refresh_soon()

    def _search_now(self) -> None:
        self.offset = 0
        self._refresh_soon()

    @asyncSlot()
    async def _refresh_soon(self) -> None:
        await self.refresh()

    # -- one lead ------------------------------------------------------------
    @asyncSlot()
    async def _selection_changed(self) -> None:
        key = self.selected_key()
        if key is None:
            self.timeline = None
            self.timeline_list.clear()
            self.lead_label.setText("Select a lead to see its timeline.")
            self.email_box.clear()
            self.highlightRequested.emit(set())
            self._update_buttons()
            return
        await self._load_timeline(key)

    async def _load_timeline(self, key: str) -> None:
        client = self.engine.client
        if client is None:
            return
        try:
            data = await client.timeline(self.campaign_id, key)
        except EngineError as exc:
            self._show_error(str(exc))
            return
        if self.selected_key() != key:
            return
        self.timeline = data
        from app.run_overlay import visited_nodes

        rows = timeline_lines(data, self.origin, self.flow)
        texts = [f"{span(at, self.origin)}   {text}" for at, text in rows]
        if [self.timeline_list.item(i).text() for i in range(self.timeline_list.count())] != texts:
            self.timeline_list.clear()
            self.timeline_list.addItems(texts)
        fields = data.get("fields") or {}
        name = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k))
        converted = converted_text(data.get("converted_at"), self.origin)
        self.lead_label.setText(f"<b>{data.get('email') or key}</b>" + (f" — {name}" if name else "")
                                + (f" · {converted}" if converted else ""))
        sent = [s["node"] for s in data.get("sends", []) if s["status"] == "sent"]
        current = [self.email_box.itemData(i) for i in range(self.email_box.count())]
        if current != sent:
            keep = self.email_box.currentData()
            self.email_box.blockSignals(True)
            self.email_box.clear()
            for node in sent:
                subject = subject_for(self.flow, node, fields, data.get("email") or "")
                self.email_box.addItem(subject, node)
                self.email_box.setItemData(self.email_box.count() - 1, f"{subject} ({node})",
                                           Qt.ItemDataRole.ToolTipRole)
            if keep in sent:
                self.email_box.setCurrentIndex(sent.index(keep))
            self.email_box.blockSignals(False)
            self._fill_links()
        self.highlightRequested.emit(visited_nodes(self.flow, data))
        self._update_buttons()

    def _fill_links(self, _index: int = 0) -> None:
        node_id = self.email_box.currentData()
        keep = self.link_box.currentData()
        self.link_box.clear()
        if node_id is not None:
            try:
                html = body_html(self.flow.node(node_id))  # a Markdown body as HTML
            except KeyError:
                html = ""
            for url, text in extract_links(html):
                self.link_box.addItem(f"{text or url} ({url})", url)
            index = self.link_box.findData(keep)
            if index >= 0:
                self.link_box.setCurrentIndex(index)
        self._update_buttons()

    def set_stopped(self, stopped: bool) -> None:
        if stopped != self.stopped:
            self.stopped = stopped
            self._update_buttons()

    def _update_buttons(self) -> None:
        has_send = self.email_box.count() > 0 and not self.stopped
        self.open_button.setEnabled(has_send)
        self.click_button.setEnabled(has_send and self.link_box.count() > 0)
        self.email_box.setEnabled(has_send)
        self.link_box.setEnabled(self.link_box.count() > 0)

    # -- events --------------------------------------------------------------
    @asyncSlot()
    async def fire_open(self) -> None:
        await self.fire("open")

    @asyncSlot()
    async def fire_click(self) -> None:
        await self.fire("click")

    async def fire(self, kind: str) -> bool:
        key, email = self.selected_key(), self.email_box.currentData()
        client = self.engine.client
        if key is None or email is None or client is None:
            return False
        url = self.link_box.currentData() if kind == "click" else None
        try:
            recorded = await client.fire_event(self.campaign_id, key, email, kind, url)
        except EngineError as exc:
            self._show_error(str(exc))
            return False
        self.error_label.clear()
        what = "an open" if kind == "open" else "a click"
        subject = self.email_box.currentText() or subject_for(self.flow, email)
        self.message.emit(f"Simulated {what} of “{subject}” by {key}" + ("." if recorded else " (already counted)."))
        await self.refresh()
        return recorded

    def _show_error(self, text: str) -> None:
        self.last_error = text
        self.error_label.setText(text)

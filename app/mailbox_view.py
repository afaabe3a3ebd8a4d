"""The sandbox's mailbox: captured messages, shown as the lead would see them.

The preview behaves like a mail client that loads remote images: the
tracking pixel is fetched for real from the tracking server when a message
is shown (that is what records the open), and a clicked link is requested
from the tracking server (which records the click and answers with a
redirect) without leaving the preview; the landing address goes to the
status line, and, when the user asks for it, to the desktop's browser.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Optional

import aiohttp
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
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
from app.message_browser import FETCH_TIMEOUT, MessageBrowser, is_web

HEADER_NAMES = ["From", "To", "Subject", "Message-ID", "List-Unsubscribe"]
COLUMNS = ["Received", "Campaign", "Run", "To", "Subject", "From"]
RECEIVED, CAMPAIGN, RUN, TO, SUBJECT, FROM = range(len(COLUMNS))
#: The list shows at least this many messages, whatever the window's height.
MIN_ROWS = 8
#: What the "Show" filter offers: (label, kept ``simulated`` values).
FILTERS = [("All messages", (True, False, None)), ("Simulations only", (True,)),
           ("Real runs only", (False, None))]


def run_kind(simulated: Optional[bool]) -> str:
    """How a message reads in the Run column: the engine says whether its campaign was simulated."""
    return {True: "Simulation", False: "Real run"}.get(simulated, "Not from a campaign")


def _when(ms: Optional[int]) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


class MailboxView(QWidget):
    """The list of captured messages and a preview of the selected one."""

    def __init__(self, client: Any, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.client = client
        self._messages: list[dict] = []
        self._shown: Optional[dict] = None
        self._tasks: set[asyncio.Task] = set()
        #: The landing address of the last followed link.
        self.last_landing: Optional[str] = None

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeaderItem(RUN).setToolTip(
            "Simulation: sent by a simulated run (always to this sandbox). Real run: sent by Campaign > Run.")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        for column in (RECEIVED, RUN, TO, FROM):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(CAMPAIGN, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(CAMPAIGN, 190)
        header.setSectionResizeMode(SUBJECT, QHeaderView.ResizeMode.Stretch)
        rows = self.table.verticalHeader().defaultSectionSize() * MIN_ROWS
        self.table.setMinimumHeight(rows + header.sizeHint().height() + 2 * self.table.frameWidth())
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda: self._spawn(self.refresh()))
        self.count_label = QLabel("No messages")
        self.filter_box = QComboBox()
        for label, _kept in FILTERS:
            self.filter_box.addItem(label)
        self.filter_box.setToolTip("Show the messages of simulations, of real runs, or all of them")
        self.filter_box.currentIndexChanged.connect(lambda _i: self._apply_filter())
        top = QHBoxLayout()
        top.addWidget(self.count_label, 1)
        top.addWidget(QLabel("Show"))
        top.addWidget(self.filter_box)
        top.addWidget(self.refresh_button)
        list_box = QWidget()
        list_layout = QVBoxLayout(list_box)
        list_layout.setContentsMargins(0, 0, 0, 0)
        list_layout.addLayout(top)
        list_layout.addWidget(self.table)

        # Preview: headers, the HTML/text toggle, the message, the status line.
        self.header_labels: dict[str, QLabel] = {}
        headers = QFormLayout()
        headers.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for name in HEADER_NAMES:
            label = QLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.header_labels[name] = label
            headers.addRow(f"<b>{name}:</b>", label)
        self.html_button = QPushButton("HTML")
        self.text_button = QPushButton("Text")
        self._format = QButtonGroup(self)
        for button in (self.html_button, self.text_button):
            button.setCheckable(True)
            self._format.addButton(button)
        self.html_button.setChecked(True)
        self._format.buttonToggled.connect(lambda *_: self._render())
        self.open_in_browser = QCheckBox("Also open links in my browser")
        toggles = QHBoxLayout()
        toggles.addWidget(self.html_button)
        toggles.addWidget(self.text_button)
        toggles.addStretch(1)
        toggles.addWidget(self.open_in_browser)
        self.browser = MessageBrowser()
        self.browser.anchorClicked.connect(self._anchor_clicked)
        self.status = QLabel("Select a message to see it as the lead does.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        preview = QWidget()
        preview_layout = QVBoxLayout(preview)
        preview_layout.setContentsMargins(0, 0, 0, 0)
        preview_layout.addLayout(headers)
        preview_layout.addLayout(toggles)
        preview_layout.addWidget(self.browser, 1)
        preview_layout.addWidget(self.status)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(list_box)
        splitter.addWidget(preview)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([320, 420])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # -- background work -------------------------------------------------------
    def _spawn(self, coro) -> None:
        """Run ``coro`` on the qasync loop, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the list ----------------------------------------------------------------
    async def refresh(self) -> None:
        """Reload the list, keeping the selected message selected."""
        selected = self.selected_id()
        try:
            messages = await self.client.mailbox()
        except EngineError as exc:
            self.status.setText(f"Cannot read the mailbox: {exc}")
            return
        self._messages = list(messages)
        self.table.blockSignals(True)
        try:
            self.table.setRowCount(len(self._messages))
            for row, m in enumerate(self._messages):
                campaign = (f"{m.get('campaign_name') or 'Campaign'} · {m['campaign']}"
                            if m.get("campaign") is not None else "–")
                cells = [_when(m.get("received_at")), campaign, run_kind(m.get("simulated")),
                         ", ".join(m.get("to") or []), m.get("subject") or "(no subject)", m.get("from") or ""]
                for column, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    item.setData(Qt.ItemDataRole.UserRole, m["id"])
                    item.setToolTip(text)
                    self.table.setItem(row, column, item)
                if m["id"] == selected:
                    self.table.selectRow(row)
        finally:
            self.table.blockSignals(False)
        self._apply_filter()

    def _apply_filter(self) -> None:
        """Hide the rows the "Show" filter leaves out, and say how many are shown."""
        kept = FILTERS[self.filter_box.currentIndex()][1]
        shown = 0
        for row, m in enumerate(self._messages):
            hidden = m.get("simulated") not in kept
            self.table.setRowHidden(row, hidden)
            shown += not hidden
        count = len(self._messages)
        if not count:
            self.count_label.setText("No messages yet: run or simulate a campaign with the sandbox.")
        elif shown == count:
            self.count_label.setText(f"{count} message{'s' if count != 1 else ''} captured by the sandbox")
        else:
            self.count_label.setText(f"{shown} of {count} messages captured by the sandbox")

    def visible_ids(self) -> list[int]:
        """The messages the list shows now (the filter applied)."""
        return [m["id"] for row, m in enumerate(self._messages) if not self.table.isRowHidden(row)]

    def message_ids(self) -> list[int]:
        return [m["id"] for m in self._messages]

    def selected_id(self) -> Optional[int]:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)

    def select_message(self, message_id: int) -> None:
        """Select a row as a user clicking it would (the preview follows)."""
        for row, m in enumerate(self._messages):
            if m["id"] == message_id:
                self.table.selectRow(row)
                return
        raise KeyError(message_id)

    def _selection_changed(self) -> None:
        message_id = self.selected_id()
        if message_id is not None and (self._shown is None or self._shown.get("id") != message_id):
            self._spawn(self.show_message(message_id))

    # -- the preview ---------------------------------------------------------------
    async def show_message(self, message_id: int) -> None:
        """Show one message as the lead would see it (which loads its tracking pixel)."""
        try:
            message = await self.client.message(message_id)
        except EngineError as exc:
            self.status.setText(f"Cannot open message {message_id}: {exc}")
            return
        self._shown = message
        headers = {k.lower(): v for k, v in (message.get("headers") or {}).items()}
        fallback = {"from": message.get("from") or "", "to": ", ".join(message.get("to") or []),
                    "subject": message.get("subject") or "", "message-id": message.get("message_id") or ""}
        for name, label in self.header_labels.items():
            label.setText(str(headers.get(name.lower(), fallback.get(name.lower(), ""))))
        if not message.get("html"):
            self.text_button.setChecked(True)
        self.html_button.setEnabled(bool(message.get("html")))
        self.browser.clear_cache()
        self._render()
        self.status.setText("Shown as the lead sees it: remote images, the tracking pixel among them, "
                            "load as in a mail client.")

    def _render(self) -> None:
        message = self._shown
        if message is None:
            return
        if self.html_button.isChecked() and message.get("html"):
            self.browser.setHtml(message["html"])
            # Lay out now, as a mail client displaying the message would: that requests the images.
            self.browser.document().setTextWidth(max(200, self.browser.viewport().width()))
            self.browser.document().size()
            # Qt asks for an image only when it paints it; a mail client loads every image of the
            # message (the pixel at the foot of a long, designed email too), scrolled into view or not.
            self.browser.load_images()
        else:
            self.browser.setPlainText(message.get("text") or "")

    def html_shown(self) -> bool:
        return self.html_button.isChecked() and bool(self._shown and self._shown.get("html"))

    def link_urls(self) -> list[str]:
        """The links of the message shown, in document order."""
        urls = []
        block = self.browser.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fmt = it.fragment().charFormat()
                if fmt.isAnchor() and fmt.anchorHref() and (not urls or urls[-1] != fmt.anchorHref()):
                    urls.append(fmt.anchorHref())
                it += 1
            block = block.next()
        return urls

    # -- links -----------------------------------------------------------------------
    def _anchor_clicked(self, url: QUrl) -> None:
        self._spawn(self.follow_link(url.toString()))

    async def follow_link(self, url: str) -> Optional[str]:
        """Request ``url`` like a browser would, without following the redirect in the preview.

        A tracked link answers with a redirect to the real page: that request
        is what records the click. Returns the landing address.
        """
        qurl = QUrl(url)
        if not is_web(qurl):
            self.status.setText(f"{url} is not a web link; it was not followed.")
            if self.open_in_browser.isChecked():
                QDesktopServices.openUrl(qurl)
            return None
        self.status.setText(f"Following {url}…")
        try:
            timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(url, allow_redirects=False) as response:
                landing = response.headers.get("Location") if 300 <= response.status < 400 else None
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.status.setText(f"Could not reach {url} ({exc.__class__.__name__}). Is the engine running?")
            return None
        if landing:
            landing = str(QUrl(url).resolved(QUrl(landing)).toString())
            self.last_landing = landing
            self.status.setText(f"Clicked: the tracking server recorded it and sends the lead to {landing}")
            if self.open_in_browser.isChecked():
                QDesktopServices.openUrl(QUrl(landing))
            return landing
        if status >= 400:
            self.status.setText(f"The link answered {status}: the tracking server refused it "
                                "(an expired or altered link records nothing).")
            return None
        self.last_landing = url
        self.status.setText(f"Opened {url}")
        if self.open_in_browser.isChecked():
            QDesktopServices.openUrl(qurl)
        return url

"""Changing a running campaign from the app (SEMANTICS 11).

While the editor's flow differs from the version a campaign runs, the
campaign's tab shows a 'Changes not published' bar with Preview and Publish.
Preview asks the engine what the edit would do to the leads in flight and
shows it in ``ImpactDialog`` and, while that is open, on the editor's canvas
and the campaign's (``editor.impact_marks``): node by node (tokens standing, where tokens of
removed nodes go, waits re-timed and their new ends, listeners, emails
gained and lost), the leads who would now get or lose an email, and for each
removed node that holds tokens a choice of where they go (a node of the new
version, or Finish). Nothing changes until the marketer presses Publish.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from qasync import asyncSlot

from app.client import EngineError
from app.publish_link import edits_campaign, flow_text, linked, without_link
from editor.impact_marks import ImpactMarks
from editor.scene import FlowScene
from engine.flow.fileformat import dumps_flow
from engine.flow.model import Flow

COLUMNS = ("Step", "Change", "Tokens on it", "Tokens go to", "Waits re-timed", "New ends", "Listening",
           "Get it now", "Lose it")
WORDS = {"removed": "removed", "added": "added", "changed": "settings changed", "re-timed": "new timing",
         "content": "new content", "rewired": "arrows changed", "same": ""}


def _when(ms: Optional[int]) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def impact_rows(impact: dict[str, Any]) -> list[list[str]]:
    """The table's rows: every node the edit touches or that gains, loses or holds something."""
    rows = []
    for n in impact["nodes"]:
        if n["status"] == "same" and not (n["gained"] or n["lost"] or n["retimed"] or n["listeners"]):
            continue
        ends = n.get("new_ends")
        when = "" if not ends else (_when(ends[0]) if ends[0] == ends[1] else f"{_when(ends[0])} … {_when(ends[1])}")
        goes = n.get("goes_to") or ""
        if n.get("not_sent"):
            goes += f" ({n['not_sent']} queued emails not sent)"
        rows.append([n["node"], WORDS.get(n["status"], n["status"]), str(n["tokens"] or ""), goes,
                     str(n["retimed"] or ""), when, str(n["listeners"] or ""), str(n["gained"] or ""),
                     str(n["lost"] or "")])
    return rows


def lead_lines(impact: dict[str, Any]) -> list[str]:
    """Who would now get an email they would not have got, and who would lose one."""
    lines = []
    for count, leads, word in ((impact["leads_gaining"], impact["gained"], "would now get"),
                               (impact["leads_losing"], impact["lost"], "would no longer get")):
        if count:
            listed = list(leads.items())[:20]
            shown = "; ".join(f"{key}: {', '.join(nodes)}" for key, nodes in listed)
            more = f" and {count - len(listed)} more" if count > len(listed) else ""
            lines.append(f"{count} leads {word} an email — {shown}{more}")
    if not lines:
        lines.append("No lead gains or loses an email (assuming no more opens or clicks).")
    return lines


class ImpactDialog(QDialog):
    """What publishing would do; the marketer picks where removed nodes' tokens go."""

    #: The choice for a removed node changed: ask the engine again with ``mapping()``.
    mappingChanged = Signal()

    def __init__(self, impact: dict[str, Any], new_nodes: list[str], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Publish changes to the running campaign")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.leads = QLabel()
        self.leads.setWordWrap(True)
        self.choices: dict[str, QComboBox] = {}
        self.mapping_form = QFormLayout()
        for node, tokens in impact.get("removed_with_tokens", {}).items():
            box = QComboBox()
            box.addItem("Finish (the default)", "finish")
            for target in new_nodes:
                box.addItem(f"Move to {target}", target)
            box.currentIndexChanged.connect(lambda _index: self.mappingChanged.emit())
            self.choices[node] = box
            self.mapping_form.addRow(f"{tokens} tokens on removed {node}:", box)
        self.note = QLineEdit()
        self.note.setPlaceholderText("A short note kept with the version (optional)")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.publish_button = self.buttons.addButton("Publish", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        self.canvas_note = QLabel("While this window is open, each step's figures are also drawn on the canvas: "
                                  "on the editor's flow and on this campaign's.")
        self.canvas_note.setWordWrap(True)
        layout.addWidget(self.canvas_note)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.leads)
        layout.addLayout(self.mapping_form)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.resize(960, 520)
        self.show_impact(impact)

    def show_impact(self, impact: dict[str, Any]) -> None:
        self.impact = impact
        self.summary.setText(f"Version {impact['version']} runs now, with {impact['in_flight']} leads in flight; "
                             f"{impact['leads_simulated']} were played forward under both versions.")
        rows = impact_rows(impact)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
        self.leads.setText("\n".join(lead_lines(impact)))

    def mapping(self) -> dict[str, str]:
        return {node: box.currentData() for node, box in self.choices.items() if box.currentData() != "finish"}


class ChangesBar(QFrame):
    """'Changes not published' with Preview and Publish, for one running campaign.

    ``source`` gives the editor's flow; the bar shows while that flow is an edit
    of this campaign (it lists the campaign's uid, or for an older file that
    lists none, has its name: ``publish_link``) and differs from it (``refresh``)."""

    #: A sentence for the status bar.
    message = Signal(str)
    #: A version was published: (its number, its flow).
    published = Signal(int, object)
    #: Published from a flow that named no campaign: link the editor's flow to this one (its uid).
    linkRequested = Signal(str)

    def __init__(self, run: Any, source: Callable[[], Optional[Flow]], parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.run = run
        self.source = source
        self.running_text = flow_text(run.flow)
        self.setObjectName("ChangesBar")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.preview_button = QPushButton("Preview…")
        self.publish_button = QPushButton("Publish…")
        self.preview_button.setToolTip("Show what the changes do to the leads in flight; nothing changes yet")
        self.publish_button.setToolTip("The same preview, then publish the changes as a new version")
        self.preview_button.clicked.connect(self.preview)
        self.publish_button.clicked.connect(self.preview)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.preview_button)
        row.addWidget(self.publish_button)
        self.dialog: Optional[ImpactDialog] = None
        #: The editor's canvas, where the impact is also drawn (the main window sets it).
        self.canvas: Callable[[], Optional[FlowScene]] = lambda: None
        self.marks: list[ImpactMarks] = []
        self.setVisible(False)

    def uid(self) -> Optional[str]:
        """The campaign's world-unique id, once the run view has polled it."""
        return (getattr(self.run, "figures", None) or {}).get("uid") or None

    def edited(self) -> Optional[Flow]:
        flow = self.source()
        if flow is None or not edits_campaign(flow, self.run.flow, self.uid()):
            return None
        return flow if flow_text(flow) != self.running_text else None

    def refresh(self) -> None:
        flow = self.edited()
        if flow is not None:
            self.label.setText(self.describe(bool(linked(flow))))
        self.setVisible(flow is not None)

    def describe(self, by_link: bool) -> str:
        """Which campaign Publish changes, and how the editor's flow was matched with it."""
        started = (getattr(self.run, "figures", None) or {}).get("started_at")
        when = f", started {_when(started)}" if started else ""
        which = f"campaign {self.run.campaign_id} “{self.run.flow.name}”{when}"
        how = ("the flow file was started as this campaign" if by_link else
               "matched by the flow's name only: this file names no campaign (publishing links it to this one)")
        return (f"<b>Changes not published.</b> The editor's flow differs from the version {which} runs; "
                f"Publish changes this campaign ({how}).")

    @asyncSlot()
    async def preview(self) -> None:
        flow = self.edited()
        client = self.run.engine.client
        if flow is None or client is None:
            return
        data = without_link(json.loads(dumps_flow(flow)))
        try:
            impact = await client.preview_version(self.run.campaign_id, data)
        except EngineError as exc:
            self.message.emit(str(exc))
            return
        self.open_dialog(impact, flow, data)

    def open_dialog(self, impact: dict[str, Any], flow: Flow, data: dict) -> ImpactDialog:
        """The impact dialog, and the same figures on the canvases while it is open
        (modeless, so the marketer can look at the editor's canvas beside it)."""
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog = ImpactDialog(impact, [n.id for n in flow.nodes if n.type != "start"], self)
        self.mark(impact)
        client = self.run.engine.client

        @asyncSlot()
        async def again() -> None:
            try:
                impact = await client.preview_version(self.run.campaign_id, data, dialog.mapping())
            except EngineError as exc:
                self.message.emit(str(exc))
                return
            dialog.show_impact(impact)
            if dialog.isVisible():
                self.mark(impact)

        dialog.mappingChanged.connect(again)
        dialog.accepted.connect(lambda: self._publish(data, dialog))
        dialog.finished.connect(lambda _result: self.unmark())
        dialog.setModal(False)
        dialog.show()
        return dialog

    def canvases(self) -> list[FlowScene]:
        """The editor's canvas (the edited flow) and this campaign's (the flow it runs)."""
        own = getattr(getattr(self.run, "editor", None), "scene", None)
        return [c for c in (self.canvas(), own) if c is not None]

    def mark(self, impact: dict[str, Any]) -> None:
        self.unmark()
        for scene in self.canvases():
            marks = ImpactMarks(scene)
            marks.show(impact, self.run.flow)
            self.marks.append(marks)

    def unmark(self) -> None:
        for marks in self.marks:
            marks.clear()
        self.marks = []

    @asyncSlot()
    async def _publish(self, data: dict, dialog: ImpactDialog) -> None:
        client = self.run.engine.client
        if client is None:
            return
        try:
            done = await client.publish_version(self.run.campaign_id, data, dialog.mapping(),
                                                dialog.note.text().strip() or None, dialog.impact["version"])
        except EngineError as exc:
            self.message.emit(str(exc))
            return
        edited = self.source()
        self.running_text = flow_text(edited or self.run.flow)
        uid = self.uid()
        if edited is not None and uid and not linked(edited):
            self.linkRequested.emit(uid)
        self.refresh()
        self.message.emit(f"Published version {done['version']}: the campaign runs the edited flow from now on.")
        self.published.emit(done["version"], data)

"""The Qt adapter over the plain flow document (after Orange's ``schemeedit``).

``FlowDocument`` holds the ``Flow``, the one ``QUndoStack`` every edit goes
through, the file path and the latest validation findings. It turns the
flow's plain notifications into Qt signals carrying node ids, so the scene
and the inspector never subscribe to the model directly. Validation runs on
a short single-shot timer after the last change: typing never waits for it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from engine.flow.model import Edge, Flow, Node
from engine.flow.validate import Finding, validate

#: How much of a lead file the editor reads for its columns and preview leads.
LEAD_PREFIX_BYTES = 64 * 1024
#: How long validation waits after the last edit, in milliseconds.
VALIDATION_DELAY_MS = 120


class FlowDocument(QObject):
    nodeAdded = Signal(str)
    nodeRemoved = Signal(str)
    edgeAdded = Signal(object)  # Edge
    edgeRemoved = Signal(object)  # Edge
    settingChanged = Signal(str, str)  # node id, key
    extraChanged = Signal(str, str)  # node id, key
    nameChanged = Signal(str)
    changed = Signal()
    #: The whole flow was replaced (new or opened file): rebuild everything.
    reset = Signal()
    findingsChanged = Signal()
    pathChanged = Signal()
    modifiedChanged = Signal(bool)
    #: The lead list the campaign is for changed (``set_lead_file``).
    leadsChanged = Signal()

    def __init__(self, flow: Optional[Flow] = None, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._flow = Flow()
        self._path: Optional[Path] = None
        self._findings: list[Finding] = []
        #: The lead list's columns (None: no list loaded, no merge-field warnings) and its first
        #: leads as ``(email, fields)``, for the inspector's field menu and preview.
        self.lead_columns: Optional[tuple[str, ...]] = None
        self.lead_samples: list[tuple[str, dict[str, str]]] = []
        self.lead_file: Optional[Path] = None
        #: Seconds the last validation pass took (for the benchmark and the status bar).
        self.last_validation_seconds = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(VALIDATION_DELAY_MS)
        self._timer.timeout.connect(self.revalidate)
        self._connect(self._flow)
        if flow is not None:
            self.set_flow(flow)
        else:
            self.revalidate()

    # -- the flow --------------------------------------------------------
    @property
    def flow(self) -> Flow:
        return self._flow

    def node(self, node_id: str) -> Node:
        return self._flow.node(node_id)

    def set_flow(self, flow: Flow, path: Optional[Path] = None) -> None:
        """Replace the document (new or opened file); the undo history starts over."""
        self._disconnect(self._flow)
        self._flow = flow
        self._connect(flow)
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.set_path(path)
        self.reset.emit()
        self.nameChanged.emit(flow.name)
        self.revalidate()
        self.modifiedChanged.emit(False)

    def _wiring(self, flow: Flow) -> list[tuple[Any, Any]]:
        """Each model notification and the handler that turns it into a Qt signal."""
        return [(flow.node_added, self._on_node_added), (flow.node_removed, self._on_node_removed),
                (flow.edge_added, self.edgeAdded.emit), (flow.edge_removed, self.edgeRemoved.emit),
                (flow.setting_changed, self._on_setting_changed), (flow.extra_changed, self._on_extra_changed),
                (flow.name_changed, self.nameChanged.emit), (flow.changed, self._on_changed)]

    def _connect(self, flow: Flow) -> None:
        for signal, slot in self._wiring(flow):
            signal.connect(slot)

    def _disconnect(self, flow: Flow) -> None:
        for signal, slot in self._wiring(flow):
            signal.disconnect(slot)

    def _on_node_added(self, node: Node) -> None:
        self.nodeAdded.emit(node.id)

    def _on_node_removed(self, node: Node) -> None:
        self.nodeRemoved.emit(node.id)

    def _on_setting_changed(self, node: Node, key: str, _value: Any) -> None:
        self.settingChanged.emit(node.id, key)

    def _on_extra_changed(self, node: Node, key: str, _value: Any) -> None:
        self.extraChanged.emit(node.id, key)

    def _on_changed(self) -> None:
        self._timer.start()
        self.changed.emit()

    def _on_clean_changed(self, clean: bool) -> None:
        self.modifiedChanged.emit(not clean)

    # -- file state ------------------------------------------------------
    @property
    def path(self) -> Optional[Path]:
        return self._path

    def set_path(self, path: Optional[Path]) -> None:
        self._path = Path(path) if path is not None else None
        self.pathChanged.emit()

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    # -- validation ------------------------------------------------------
    @property
    def findings(self) -> list[Finding]:
        return list(self._findings)

    @property
    def validation_pending(self) -> bool:
        return self._timer.isActive()

    def revalidate(self) -> None:
        """Validate now and tell the overlay; normally called by the debounce timer."""
        self._timer.stop()
        began = time.perf_counter()
        self._findings = validate(self._flow, self.lead_columns)
        self.last_validation_seconds = time.perf_counter() - began
        self.findingsChanged.emit()

    def set_lead_file(self, path: Optional[Path], samples: int = 200) -> None:
        """Use this CSV's columns for merge-field warnings and its first leads in the
        preview (None, or a file that cannot be read: no lead list)."""
        from engine.leads.importer import LeadImportError, import_leads

        self.lead_file, self.lead_columns, self.lead_samples = None, None, []
        if path is not None:
            try:
                # The header and the first rows are all the editor needs: a 100,000-lead file
                # must not freeze the window (its first 64 KB, cut after a whole line).
                with Path(path).open("rb") as handle:
                    data = handle.read(LEAD_PREFIX_BYTES + 1)
                if len(data) > LEAD_PREFIX_BYTES:
                    data = data[:data.rfind(b"\n", 0, LEAD_PREFIX_BYTES) + 1] or data
                result = import_leads(data)
            except (LeadImportError, OSError):
                pass
            else:
                self.lead_file, self.lead_columns = Path(path), tuple(result.columns)
                self.lead_samples = [(r.email, dict(r.fields)) for r in result.leads[:samples]]
        self.leadsChanged.emit()
        self.revalidate()

    # -- helpers for commands -------------------------------------------
    def node_index(self, node_id: str) -> int:
        return [n.id for n in self._flow.nodes].index(node_id)

    def edge_index(self, edge: Edge) -> int:
        for index, e in enumerate(self._flow.edges):
            if e is edge:
                return index
        raise ValueError(f"{edge!r} is not in the flow")

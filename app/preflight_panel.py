"""The Run dialog's pre-flight panel: will inboxes accept this campaign's mail?

Before a real run it shows ``engine/delivery/preflight.py``'s checklist, one
line each (✓ pass, ✗ fail, ! warning, ? could not check): the sender, the
domain's SPF, DKIM and DMARC records, the https public URL, one-click
unsubscribe, the postal address, Gmail's and Yahoo's bulk-sender rules and
the emails a day at the configured rate. DNS look-ups and the simulation take
seconds, so the checks run on a worker thread and the dialog stays usable;
the panel polls for the result (no Qt object is touched off the GUI thread).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from app.background_call import BackgroundCall
from engine.delivery.preflight import Preflight, preflight

MARKS = {"pass": ("✓", "#1b7f3b"), "fail": ("✗", "#b3261e"), "warn": ("!", "#9a6700"), "unknown": ("?", "#6b7280")}
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="preflight")

#: leads (or None) -> the report; made by ``campaign_preflight``.
PreflightCheck = Callable[[Optional[Sequence[Any]]], Preflight]


def campaign_preflight(flow_json: dict, public_url: str, smtp_url: str) -> PreflightCheck:
    """The pre-flight of this flow file through this server, with links at ``public_url``."""
    def check(leads: Optional[Sequence[Any]]) -> Preflight:
        from engine.delivery.smtp import SmtpSettings, SmtpUrlError
        from engine.flow.fileformat import loads_flow

        try:
            smtp = SmtpSettings.from_url(smtp_url or "sandbox")
        except SmtpUrlError:
            smtp = None
        return preflight(loads_flow(json.dumps(flow_json)), public_url=public_url, smtp=smtp, leads=leads)

    return check


class PreflightPanel(QGroupBox):
    """The checklist, filled in when the checks finish; ``Check again`` runs them anew."""

    finished = Signal(object)

    def __init__(self, check: Callable[[], Preflight], parent=None) -> None:
        super().__init__("Pre-flight: will inboxes accept it?", parent)
        self._check = check
        self.report: Optional[Preflight] = None
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.again = QPushButton("Check again")
        self.again.clicked.connect(self.start)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.again)
        self.lines = QListWidget()
        self.lines.setWordWrap(True)
        self.lines.setMinimumHeight(120)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.lines, 1)
        self._call = BackgroundCall(_POOL, self._checked, self._check_failed, self)

    def start(self) -> None:
        """Run the checks on the worker thread (once at a time)."""
        if self._call.busy:
            return
        self.summary.setText("Checking the sender domain's DNS records, the public URL and the sending pace…")
        self.again.setEnabled(False)
        self._call.submit(self._check)

    def _checked(self, report: Preflight) -> None:
        self.again.setEnabled(True)
        self.show_report(report)

    def _check_failed(self, exc: Exception) -> None:
        self.again.setEnabled(True)
        self.summary.setText(f"The checks could not run: {type(exc).__name__}: {exc}")

    def show_report(self, report: Preflight) -> None:
        self.report = report
        self.lines.clear()
        for check in report.checks:
            mark, colour = MARKS.get(check.status, ("?", "#6b7280"))
            item = QListWidgetItem(f"{mark}  {check.title}" + (f": {check.detail}" if check.detail else ""))
            item.setForeground(QColor(colour))
            item.setToolTip(check.detail)
            self.lines.addItem(item)
        failed = sum(1 for c in report.checks if c.status == "fail")
        self.summary.setText("Ready to send: every line that can be checked from here passes." if report.ready
                             else f"Not ready: {failed} line{'s' if failed != 1 else ''} marked ✗ would keep "
                                  "mail out of inboxes; fix them before a real run.")
        self.finished.emit(report)

    def wait(self, timeout: float = 60.0) -> Optional[Preflight]:
        """For tests: block until the checks finish and show them."""
        self._call.wait(timeout)
        return self.report


#: A server on this computer is a test set-up: the app, like ``mailbranch run``, only refuses real servers.
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def real_run_refusal(flow_json: dict, outgoing: Optional[str], public_url: str) -> Optional[str]:
    """Why a real run through ``outgoing`` (``host:port``; None: the sandbox) must not start, or None."""
    if outgoing is None:
        return None
    from urllib.parse import urlsplit

    try:
        host = urlsplit("//" + outgoing).hostname or outgoing
    except ValueError:
        host = outgoing
    if host.lower() in _LOOPBACK:
        return None
    from engine.delivery.identity import real_run_problem
    from engine.flow.fileformat import loads_flow

    return real_run_problem(loads_flow(json.dumps(flow_json)), public_url)

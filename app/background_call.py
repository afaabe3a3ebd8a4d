"""One blocking call at a time on a worker thread, its outcome handed back on the GUI thread.

DNS look-ups and an SMTP conversation take seconds, and the window must stay
usable meanwhile; Qt widgets may only be touched from the GUI thread, so a
timer there polls the call's future and hands its result (or the exception
it raised) to the owner's callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Optional

from PySide6.QtCore import QObject, QTimer


class BackgroundCall(QObject):
    def __init__(self, pool: Executor, done: Callable[[Any], None], failed: Callable[[Exception], None],
                 parent: QObject) -> None:
        super().__init__(parent)
        self._pool, self._done, self._failed = pool, done, failed
        self._future: Optional[Future] = None
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self.collect)

    @property
    def busy(self) -> bool:
        return self._future is not None and not self._future.done()

    def submit(self, work: Callable[[], Any]) -> None:
        self._future = self._pool.submit(work)
        self._poll.start()

    def collect(self) -> None:
        """Hand the finished call's outcome over (nothing while it runs)."""
        if self._future is None or not self._future.done():
            return
        self._poll.stop()
        try:
            result = self._future.result()
        except Exception as exc:  # noqa: BLE001 - the owner shows it; never a crash of the window
            self._failed(exc)
            return
        self._done(result)

    def wait(self, timeout: float) -> None:
        """For tests: block until the call finishes (raising what it raised), then hand it over."""
        if self._future is not None:
            self._future.result(timeout=timeout)
            self.collect()

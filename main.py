"""Start the Mailbranch desktop app: ``python main.py [FLOW]``.

The event loop is qasync's ``QEventLoop``: Qt and asyncio (the engine
client) share the main thread. The window starts the engine process (or
reattaches to one left running) once it shows.
"""

from __future__ import annotations

import asyncio
import sys

from PySide6.QtWidgets import QApplication
from qasync import QEventLoop


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    qapp = QApplication.instance() or QApplication(argv)
    qapp.setOrganizationName("Mailbranch")
    qapp.setApplicationName("Mailbranch")
    from app.main_window import MainWindow

    loop = QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    closed = asyncio.Event()
    qapp.aboutToQuit.connect(closed.set)
    window = MainWindow(argv[1] if len(argv) > 1 else None)
    window.show()
    window.start_engine()
    with loop:
        loop.run_until_complete(closed.wait())
    return 0


if __name__ == "__main__":
    sys.exit(main())

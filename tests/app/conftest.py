"""App tests: offscreen Qt, a qasync loop that runs inside pytest-qt's waits,
and a data dir, database and settings under ``tmp_path``.

No ``__init__.py`` here on purpose: a package named ``app`` would shadow the
real one, so test modules are named ``test_app_*``.
"""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

_CLOSED_LOOPS: list = []


@pytest.fixture
def qloop(qapp):
    """A qasync loop marked as running, so tasks advance while qtbot waits."""
    from qasync import QEventLoop

    loop = QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    # Let pending callbacks (closing sessions) run before the loop goes.
    for _ in range(20):
        qapp.processEvents()
    # Not loop.stop(): it calls QApplication.exit(), after which the next test's loop never runs.
    asyncio.events._set_running_loop(None)
    loop._QEventLoop__is_running = False  # noqa: SLF001 - qasync has no public way out of "already running"
    loop.close()
    _CLOSED_LOOPS.append(loop)  # a qasync timer still pending may fire later on its loop's objects
    asyncio.set_event_loop(None)


@pytest.fixture
def home(tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def loop(qapp):
    """A qasync loop the test drives with ``run_until_complete``."""
    import qasync

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    _CLOSED_LOOPS.append(loop)  # a qasync timer still pending may fire later on its loop's objects
    asyncio.set_event_loop(None)

"""Quitting after a copy ends the process cleanly (exit code 0, no segfault).

The clipboard holds a ``QMimeData`` made in Python; before the fix in
``editor/clipboard.py`` Qt freed it at exit under Python's feet and every
session that had copied a step ended with a segfault (exit code -11). Each
case runs in its own process, since a crash at interpreter exit is exactly
what an in-process test cannot see.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import FLOWS, ROOT

SETUP = f"""
import sys
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from editor.clipboard import MIME

def copy_step(window):
    window.editor.scene.select_nodes(["e1"])
    window.actions["copy"].trigger()
    assert QGuiApplication.clipboard().mimeData().hasFormat(MIME)
    print("copied", flush=True)

sample = {str(FLOWS / "sample.json")!r}
"""

#: The editor as a user runs it (``python -m editor FLOW``): copy, then close the window.
THROUGH_THE_WINDOW = SETUP + """
import editor.__main__ as entry

def copy_and_close():
    app = QApplication.instance()
    window = next(w for w in app.topLevelWidgets() if type(w).__name__ == "EditorWindow")
    copy_step(window)
    window.close()  # the last window: the application quits

QTimer.singleShot(0, copy_and_close)
sys.exit(entry.main(["editor", sample]))
"""

#: A script (or a test) that copies and ends without ever running the event loop.
WITHOUT_EVENT_LOOP = SETUP + """
from editor.window import EditorWindow

app = QApplication(sys.argv)
window = EditorWindow(sample)
copy_step(window)
"""


@pytest.mark.parametrize("script", [THROUGH_THE_WINDOW, WITHOUT_EVENT_LOOP], ids=["quit", "no-event-loop"])
def test_the_editor_exits_cleanly_after_a_copy(script):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env)
    assert "copied" in done.stdout, done.stderr
    assert done.returncode == 0, f"exit code {done.returncode}: {done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr


#: Repaints the sample flow's canvas and prints how many references None lost.
REPAINT = SETUP + """
from PySide6.QtGui import QImage, QPainter
from editor.window import EditorWindow

app = QApplication(sys.argv)
window = EditorWindow(sample)
image = QImage(1200, 800, QImage.Format.Format_ARGB32)

def repaint(times):
    for _ in range(times):
        painter = QPainter(image)
        window.editor.scene.render(painter)
        painter.end()

repaint(2)
before = sys.getrefcount(None)
repaint(10)
print("lost", before - sys.getrefcount(None), flush=True)
"""


def test_painting_the_canvas_keeps_none_alive():
    """PySide6 6.12.0 dropped a reference to None on most paint calls (about 600
    per repaint of the sample flow) until Python 3.11 aborted; the pinned
    release must not. In a process of its own, so a leaking release fails
    with a figure instead of aborting the test run. On Python 3.12+ None is
    immortal and this holds trivially."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", REPAINT], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lost = int(done.stdout.split("lost", 1)[1])
    assert lost < 50, f"None lost {lost} references in 10 repaints"

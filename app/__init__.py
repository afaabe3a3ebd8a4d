"""The Mailbranch desktop application: main window, engine process, run view."""

import editor  # noqa: F401  - applies the PySide6 6.12 / Python 3.11 refcount guard first

"""``python -m editor [FLOW]``: the flow editor on its own."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from editor.window import EditorWindow


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("Mailbranch Editor")
    app.setOrganizationName("Mailbranch")
    window = EditorWindow(argv[1] if len(argv) > 1 else None)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())

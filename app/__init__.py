"""The Mailbranch desktop application: main window, engine process, run view."""

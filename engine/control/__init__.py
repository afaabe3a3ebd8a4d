"""The engine process's local control API, which the desktop app talks to."""

"""Errors a user can meet when delivery starts, with a message that says what to do."""


class CannotListen(OSError):
    """A server could not bind its host and port (in use, not allowed, unknown host)."""

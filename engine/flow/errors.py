"""Typed refusals of edits the flow rules forbid (after Orange's scheme/errors.py).

``Flow.check_connect`` raises one of these; ``Flow.can_connect`` turns it into
a bool so the canvas can grey out a drop target, and the message is what the
canvas shows by the cursor.
"""


class FlowEditError(ValueError):
    """An edit the flow rules refuse; ``str(error)`` is a message for the user."""


class UnknownNodeError(FlowEditError):
    pass


class UnknownPortError(FlowEditError):
    pass


class IntoStartError(FlowEditError):
    pass


class PortInUseError(FlowEditError):
    pass


class SelfLoopError(FlowEditError):
    pass


class CycleError(FlowEditError):
    pass


class DuplicateNodeError(FlowEditError):
    pass

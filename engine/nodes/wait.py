"""Wait: holds a token for a duration. A condition's NO path starts with one:
its duration is how long the condition listens (SEMANTICS 4)."""

from __future__ import annotations

from engine.flow.durations import (
    MAX_WAIT_SECONDS,
    DurationError,
    DurationTooLongError,
    duration_ms,
    format_duration,
    parse_duration,
)
from engine.nodes.base import NodeType, Setting
from engine.nodes.registry import register
from engine.nodes.wording import label


class WaitType(NodeType):
    name = "wait"
    title = "Wait"
    description = "Holds each lead for a while; after a condition's NO, how long it waits for the event."
    id_prefix = "w"
    holds = True
    #: It can be a condition's timeout: the NO path of a condition must start with one.
    times_out = True
    palette_order = 30
    settings = (Setting("duration", "Duration", "duration", (str, int, float), default="1d",
                        help="Such as 45s, 30m, 12h, 3d or 1d12h."),)
    figures = ("waiting", "passed")

    def summary(self, node, flow) -> str:
        value = node.get("duration")
        try:
            return f"Wait {format_duration(parse_duration(value))}"
        except (DurationError, TypeError, ValueError):
            return "Wait (no valid duration)"

    def problems(self, node, flow) -> list[str]:
        name = label(node)
        duration = node.get("duration")
        if duration is None:
            return [f"{name.capitalize()} has no duration. Set one, such as 3d or 12h."]
        try:
            seconds = parse_duration(duration)
        except DurationTooLongError as exc:
            return [f"The duration of {name} is not valid: {exc}; the longest wait is "
                    f"{MAX_WAIT_SECONDS // 86400} days."]
        except DurationError as exc:
            return [f"The duration of {name} is not valid: {exc}."]
        if round(seconds * 1000) <= 0:
            return [f"{name.capitalize()} must wait longer than zero; set a duration such as 1d."]
        if seconds > MAX_WAIT_SECONDS:
            return [f"{name.capitalize()} waits {format_duration(seconds)}, longer than the longest wait of "
                    f"{MAX_WAIT_SECONDS // 86400} days; set a shorter duration."]
        return []

    def compile(self, node, flow, options) -> int:
        """The duration in milliseconds."""
        return duration_ms(node.get("duration"))

    def enter(self, batch, token) -> bool:
        batch.hold(token, batch.now + batch.spec.compiled[token.node])
        return False

    def resume(self, batch, token) -> None:
        """A wait that ends closes the listening window of the condition whose
        NO path it starts (the window is half-open: an event at this instant is late)."""
        batch.stop_listening(token)
        batch.move(token, "next")


WAIT = register(WaitType())

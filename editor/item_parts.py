"""What the canvas's node and edge items share: hover highlighting, the findings
tooltip and the severity that colours an item."""

from __future__ import annotations

from typing import Any, Optional

from engine.flow.validate import Finding

PORT_RADIUS = 6.0


def worst(findings: list[Finding]) -> Optional[str]:
    if not findings:
        return None
    return "error" if any(f.is_error for f in findings) else "warning"


def findings_tooltip(findings: list[Finding]) -> str:
    lines = [f"<b>{'Error' if f.is_error else 'Warning'}</b> ({f.code}): {f.message}" for f in findings]
    return "<br>".join(lines)


class HoverHighlight:
    """Remembers whether the pointer is over the item and repaints when that changes."""

    _hover = False

    def hoverEnterEvent(self, event: Any) -> None:
        self._hover = True
        self.update()
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event: Any) -> None:
        self._hover = False
        self.update()
        super().hoverLeaveEvent(event)

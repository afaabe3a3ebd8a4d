"""Flow-level settings: the campaign's time zone and its goal (SEMANTICS 10).

Both live at the top of the flow file (``"timezone"``, ``"goal"``) beside the
name; the flow keeps them among its top-level fields (``Flow.extra``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from engine.flow.text import shown

if TYPE_CHECKING:
    from engine.flow.model import Flow

DEFAULT_ZONE = "UTC"


def _zone(name: object) -> Optional[ZoneInfo]:
    from engine.nodes.window_times import zone
    return zone(name)


def flow_zone_name(flow: Flow) -> str:
    """The campaign's time zone as written (``UTC`` when unset)."""
    name = flow.extra.get("timezone")
    return name if isinstance(name, str) and name else DEFAULT_ZONE


def flow_zone(flow: Flow) -> ZoneInfo:
    """The campaign's time zone (UTC when unset or unknown: validation reports the latter)."""
    return _zone(flow.extra.get("timezone")) or ZoneInfo(DEFAULT_ZONE)


def normal_url(url: str) -> str:
    """A URL without its query string and fragment, scheme and host lower-cased:
    how a click is compared with the goal."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def goal_url(flow: Flow) -> Optional[str]:
    """The goal's click URL, normalised, or None when the flow has no (valid) goal."""
    goal = flow.extra.get("goal")
    url = goal.get("click") if isinstance(goal, dict) else None
    if not isinstance(url, str) or urlsplit(url.strip()).scheme.lower() not in ("http", "https"):
        return None
    return normal_url(url)


def problems(flow: Flow) -> list[str]:
    """``bad-setting`` sentences about the flow's own settings."""
    found: list[str] = []
    zone: Any = flow.extra.get("timezone")
    if zone is not None and _zone(zone) is None:
        found.append(f"The campaign's time zone “{shown(zone)}” does not exist; use an IANA name such as "
                     "Europe/Paris, or UTC.")
    goal = flow.extra.get("goal")
    if goal is not None:
        url = goal.get("click") if isinstance(goal, dict) else None
        parts = urlsplit(url.strip()) if isinstance(url, str) else None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            found.append("The campaign's goal must be {\"click\": URL} with an http or https link, such as "
                         "https://shop.example/thanks.")
    return found

"""What the control API takes in: each request parsed at the edge into a typed command.

A handler reads its body or query through one of these parsers and hands the
service values it can trust; a request that does not fit is refused there
with ``BadRequest``, whose message names the field (``"lead": required``). So
a ``KeyError`` or ``TypeError`` further down is a bug, shown as one (a logged
500), never mistaken for the user's mistake.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

#: The events that can be injected from outside: simulated opens and clicks, and conversions.
EVENT_TYPES = ("open", "click", "convert")
#: The events a machine can make (SEMANTICS 5): a conversion is a purchase, never a proxy's.
MACHINE_TYPES = ("open", "click")

_ABSENT = object()


class BadRequest(ValueError):
    """A request that does not fit its route; ``field`` names what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f'"{field}": {problem}')
        self.field = field
        self.problem = problem


def body_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("body", "must be a JSON object")
    return body


def text(data: Mapping[str, Any], name: str, *, required: bool = True, label: Optional[str] = None,
         max_length: int = 2000) -> Optional[str]:
    """A string that is not blank, as given (a lead key is kept byte for byte); None when left out.

    At most ``max_length`` characters (the column it is stored in) and no NUL, which
    PostgreSQL cannot store: either would otherwise fail deep down as a 500.
    """
    value = data.get(name, _ABSENT)
    label = label or name
    if value is _ABSENT or value is None:
        if required:
            raise BadRequest(label, "required")
        return None
    if not isinstance(value, str):
        raise BadRequest(label, "must be text")
    if len(value) > max_length:
        raise BadRequest(label, f"at most {max_length} characters")
    if "\x00" in value:
        raise BadRequest(label, "must not contain NUL characters")
    if not value.strip():
        if required:
            raise BadRequest(label, "must not be empty")
        return None
    return value


def flag(data: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(name, "must be true or false")
    return value


def positive_number(data: Mapping[str, Any], name: str, default: Optional[float] = None) -> float:
    value = data.get(name)
    if value is None and default is not None:
        return default
    if value is None:
        raise BadRequest(name, "required")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise BadRequest(name, "must be a positive number")
    return float(value)


def query_int(query: Mapping[str, str], name: str, default: int, maximum: int = 100_000) -> int:
    """A whole number from the query string, 0 to ``maximum``."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(name, "must be a whole number") from None
    if not 0 <= value <= maximum:
        raise BadRequest(name, f"must be between 0 and {maximum}")
    return value


@dataclass(frozen=True)
class NewLead:
    key: str
    email: Optional[str]
    fields: dict[str, Any]


@dataclass(frozen=True)
class StartCampaign:
    flow: dict[str, Any]
    leads: list[NewLead]
    simulated: bool
    speed: float
    name: Optional[str]

    @classmethod
    def from_json(cls, body: Any) -> StartCampaign:
        body = body_object(body)
        flow = body.get("flow")
        if flow is None:
            raise BadRequest("flow", "required")
        if not isinstance(flow, dict):
            raise BadRequest("flow", "must be a flow document (a JSON object)")
        raw_leads = body.get("leads", [])
        if not isinstance(raw_leads, list):
            raise BadRequest("leads", "must be a list")
        leads = []
        for i, raw in enumerate(raw_leads):
            where = f"leads[{i}]"
            if not isinstance(raw, dict):
                raise BadRequest(where, "must be an object with a key")
            key = raw.get("key")
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)
            key = text({"key": key}, "key", label=f"{where}.key", max_length=320)
            email = text(raw, "email", required=False, label=f"{where}.email", max_length=320)
            fields = raw.get("fields") or {}
            if not isinstance(fields, dict):
                raise BadRequest(f"{where}.fields", "must be an object")
            leads.append(NewLead(key, email, dict(fields)))
        return cls(flow, leads, flag(body, "simulated"), positive_number(body, "speed", 3600.0),
                   text(body, "name", required=False, max_length=200))


@dataclass(frozen=True)
class SetSpeed:
    speed: float

    @classmethod
    def from_json(cls, body: Any) -> SetSpeed:
        return cls(positive_number(body_object(body), "speed"))


@dataclass(frozen=True)
class EventCommand:
    """A simulated open or click, or a conversion from outside, for one lead.

    ``lead`` is the lead's key or (when no key matches) its address; ``email``
    the email node an open or click is about.
    """

    type: str
    lead: str
    email: Optional[str] = None
    url: Optional[str] = None
    machine: bool = False

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise BadRequest("type", "must be open, click or convert")
        if self.type == "convert" and self.email is not None:
            raise BadRequest("email", "a conversion is not about one email; leave it out")
        if self.type != "convert" and self.email is None:
            raise BadRequest("email", "required (the email node the event is about)")
        if self.url is not None and self.type != "click":
            raise BadRequest("url", "only a click has a link")
        if self.machine and self.type not in MACHINE_TYPES:
            raise BadRequest("machine", "only opens and clicks can be made by a machine")

    @classmethod
    def from_json(cls, body: Any) -> EventCommand:
        body = body_object(body)
        kind = text(body, "type")
        if kind not in EVENT_TYPES:
            raise BadRequest("type", "must be open, click or convert")
        return cls(kind, text(body, "lead"), text(body, "email", required=False),
                   text(body, "url", required=False, max_length=8192), flag(body, "machine"))


@dataclass(frozen=True)
class CsvText:
    """A CSV sent as ``{"csv": "..."}``."""

    csv: str

    @classmethod
    def from_json(cls, body: Any) -> CsvText:
        value = body_object(body).get("csv")
        if value is None:
            raise BadRequest("csv", "required")
        if not isinstance(value, str):
            raise BadRequest("csv", "must be text")
        return cls(value)


@dataclass(frozen=True)
class Addresses:
    """Addresses to suppress or to take off the suppression list."""

    emails: list[str]
    note: Optional[str] = None

    @classmethod
    def from_json(cls, body: Any, with_note: bool = False) -> Addresses:
        body = body_object(body)
        emails = body.get("emails")
        if emails is None:
            raise BadRequest("emails", "required")
        if not isinstance(emails, list) or not emails:
            raise BadRequest("emails", "must be a list of at least one address")
        for i, e in enumerate(emails):
            if not isinstance(e, str):
                raise BadRequest(f"emails[{i}]", "must be text")
        return cls(list(emails), text(body, "note", required=False) if with_note else None)

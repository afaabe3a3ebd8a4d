"""In-memory copies of run rows while a batch works on them.

A batch loads the rows of the leads it touches, changes these plain objects,
and writes back only what is new (``new``) or changed (``dirty``). Updates
of rows that existed are compare-and-set against the state they were loaded
in, so a batch that raced another one fails as a whole and is retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass(eq=False, slots=True)
class TokenState:
    id: int
    lead_id: int
    parent_id: Optional[int]
    node: str
    state: str
    tracked: bool
    path: dict[str, int]
    last_send: Optional[int]
    created_at: int
    finished_at: Optional[int] = None
    version: int = 0
    new: bool = False
    dirty: bool = False

    def row(self) -> dict:
        return {"id": self.id, "lead_id": self.lead_id, "parent_id": self.parent_id, "node": self.node,
                "state": self.state, "tracked": self.tracked, "path": self.path,
                "last_send": self.last_send, "created_at": self.created_at,
                "finished_at": self.finished_at, "version": self.version}


@dataclass(eq=False, slots=True)
class SendState:
    id: int
    lead_id: int
    token_id: int
    node: str
    at: int
    message_id: str
    status: str
    opened_at: Optional[int] = None
    clicked_at: Optional[int] = None
    clicked_urls: list[str] = field(default_factory=list)
    sent_at: Optional[int] = None
    new: bool = False
    dirty: bool = False


@dataclass(eq=False, slots=True)
class WaitState:
    id: int
    token_id: int
    lead_id: int
    node: str
    due_at: int
    state: str
    fired_at: Optional[int] = None
    new: bool = False
    dirty: bool = False


@dataclass(eq=False, slots=True)
class ListenerState:
    id: int
    lead_id: int
    token_id: int
    condition: str
    send_id: int
    event: str
    url: Optional[str]
    mode: str
    since: int
    until: int
    state: str
    triggered_token: Optional[int] = None
    new: bool = False
    dirty: bool = False

    def matches(self, event_type: str, url: Optional[str]) -> bool:
        """A click counts as an open; a click condition may be limited to one link."""
        if self.event == "open":
            return event_type in ("open", "click")
        return event_type == "click" and (self.url is None or self.url == url)


@dataclass(eq=False, slots=True)
class EventState:
    id: int
    lead_id: Optional[int]
    type: str
    node: Optional[str]
    send_id: Optional[int]
    url: Optional[str]
    at: int
    state: str = "pending"
    triggered: list[str] = field(default_factory=list)
    handled_at: Optional[int] = None

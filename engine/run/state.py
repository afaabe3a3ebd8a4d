"""In-memory copies of run rows while a batch works on them.

A batch loads the rows of the leads it touches, changes these plain objects,
and writes back only what is new (``new``) or changed (``dirty``). Updates
of rows that existed are compare-and-set against the state they were loaded
in, so a batch that raced another one fails as a whole and is retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional


class TokenState:
    """A token; its path (email node -> send id) is decoded only when used."""

    __slots__ = ("id", "lead_id", "parent_id", "node", "state", "tracked", "_path", "_path_text",
                 "_path_changed", "last_send", "created_at", "finished_at", "version", "new", "dirty")

    def __init__(self, id: int, lead_id: int, parent_id: Optional[int], node: str, state: str,
                 tracked: bool, path: Optional[dict[str, int]], last_send: Optional[int], created_at: int,
                 finished_at: Optional[int] = None, version: int = 0, new: bool = False,
                 path_text: Optional[str] = None) -> None:
        self.id, self.lead_id, self.parent_id, self.node = id, lead_id, parent_id, node
        self.state, self.tracked, self.last_send, self.created_at = state, tracked, last_send, created_at
        self.finished_at, self.version, self.new, self.dirty = finished_at, version, new, False
        self._path, self._path_text = path, path_text
        self._path_changed = path is not None

    @property
    def path(self) -> dict[str, int]:
        if self._path is None:
            self._path = json.loads(self._path_text) if self._path_text else {}
        return self._path

    @path.setter
    def path(self, value: dict[str, int]) -> None:
        self._path, self._path_text, self._path_changed = value, None, True

    def path_text(self) -> Optional[str]:
        """The path as stored; encoded again only if it changed."""
        if self._path_changed:
            self._path_text = json.dumps(self._path, separators=(",", ":")) if self._path else None
            self._path_changed = False
        return self._path_text


@dataclass(eq=False, slots=True)
class LeadState:
    """What node types that read the lead (split, check, window) need of it."""

    id: int
    key: str
    email: Optional[str]
    fields: dict

    def field(self, name: str):
        """A lead field: a column of its lead list; ``email`` and ``key`` always exist."""
        if name in self.fields:
            return self.fields[name]
        if name == "email":
            return self.email
        if name == "key":
            return self.key
        return None


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
    clicked_urls: tuple[str, ...] = ()
    sent_at: Optional[int] = None
    #: What machines (privacy proxies, link scanners) did with it (SEMANTICS 5).
    machine_opened_at: Optional[int] = None
    machine_clicked_at: Optional[int] = None
    machine_clicked_urls: tuple[str, ...] = ()
    #: A simulation with a send rate: the instant this send leaves the queue.
    planned_at: Optional[int] = None
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
    #: When the token began to wait (a re-timed wait keeps it, SEMANTICS 11).
    started_at: Optional[int] = None
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



@dataclass(eq=False, slots=True)
class EventState:
    id: int
    lead_id: Optional[int]
    type: str
    node: Optional[str]
    send_id: Optional[int]
    url: Optional[str]
    at: int
    machine: bool = False
    state: str = "pending"
    triggered: list[str] = field(default_factory=list)
    handled_at: Optional[int] = None

"""A small supervisor for the engine process's long-lived tasks.

A task that dies with an exception must not leave the engine looking alive
while it does nothing (the send loop dying silently froze every campaign
while ``/health`` said ok). Every long-lived task of ``mailbranch serve``,
``mailbranch run`` and ``mailbranch worker`` runs here:

- if it raises, one log line says which task and the exception (no traceback
  flood), and it is started again after a delay that doubles with each crash
  in a row (``base`` .. ``cap`` seconds) and starts over once the task has
  run ``healthy_after`` seconds without dying;
- ``report()`` lists every task with its restarts and last error, and says
  whether each one is running now; ``ok`` is false while any task is down
  (waiting for its restart), which is what ``/health`` and ``status`` show;
- a task that returns normally is finished, not restarted (``run`` ends
  when its campaign is complete).

``on_change`` is called after a crash and after a restart, e.g. to write the
report into the database for ``mailbranch status`` in another process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Optional

log = logging.getLogger("mailbranch.supervise")


@dataclass
class TaskState:
    name: str
    running: bool = False
    finished: bool = False
    #: Cancelled on purpose (the process is stopping): not down, not to be restarted.
    stopped: bool = False
    restarts: int = 0
    crashes_in_a_row: int = 0
    last_error: Optional[str] = None
    last_error_at: Optional[float] = None
    restart_at: Optional[float] = None
    started_at: Optional[float] = None
    task: Optional[asyncio.Task] = field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "running": self.running, "finished": self.finished, "stopped": self.stopped,
                "restarts": self.restarts,
                "last_error": self.last_error,
                "last_error_at": None if self.last_error_at is None else int(self.last_error_at * 1000),
                "restart_at": None if self.restart_at is None else int(self.restart_at * 1000)}


class Supervisor:
    def __init__(self, *, base: float = 0.5, cap: float = 30.0, healthy_after: float = 60.0,
                 clock: Callable[[], float] = time.time,
                 on_change: Optional[Callable[[TaskState], None]] = None) -> None:
        self.base = base
        self.cap = cap
        self.healthy_after = healthy_after
        self.clock = clock
        self.on_change = on_change
        self.tasks: dict[str, TaskState] = {}

    def start(self, name: str, factory: Callable[[], Awaitable[Any]]) -> asyncio.Task:
        """Run ``factory()`` as the task ``name``, again after each crash; returns the supervising task."""
        state = self.tasks[name] = TaskState(name)
        state.task = asyncio.create_task(self._keep(state, factory), name=f"supervised:{name}")
        return state.task

    async def run(self, name: str, factory: Callable[[], Awaitable[Any]]) -> None:
        """``start`` and wait until the task finishes normally (restarting it after each crash)."""
        await self.start(name, factory)

    async def _keep(self, state: TaskState, factory: Callable[[], Awaitable[Any]]) -> None:
        state.running = True
        self._changed(state)  # a fresh start: no restarts, no error (an older row is overwritten)
        while True:
            state.running, state.restart_at, state.started_at = True, None, self.clock()
            try:
                await factory()
            except asyncio.CancelledError:
                state.running, state.stopped = False, True
                self._changed(state)  # `status` from another terminal must not call a clean stop "down"
                raise
            except Exception as exc:  # noqa: BLE001 - the point of a supervisor
                now = self.clock()
                if now - (state.started_at or now) >= self.healthy_after:
                    state.crashes_in_a_row = 0
                state.crashes_in_a_row += 1
                delay = min(self.cap, self.base * 2 ** (state.crashes_in_a_row - 1))
                state.running = False
                state.last_error = f"{type(exc).__name__}: {exc}"
                state.last_error_at = now
                state.restart_at = now + delay
                log.error("task %r died (%s); restarting it in %.1fs", state.name, state.last_error, delay)
                self._changed(state)
                await asyncio.sleep(delay)
                state.restarts += 1
                state.running, state.restart_at = True, None
                log.warning("task %r restarted (restart %d)", state.name, state.restarts)
                self._changed(state)
                continue
            state.running, state.finished = False, True
            self._changed(state)
            return

    def _changed(self, state: TaskState) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(state)
        except Exception as exc:  # noqa: BLE001 - reporting must not kill the supervisor
            log.warning("could not record the state of task %r (%s)", state.name, exc)

    @property
    def ok(self) -> bool:
        """Every task is running or finished normally: none is down waiting for a restart."""
        return all(t.running or t.finished or t.stopped for t in self.tasks.values())

    def report(self) -> list[dict[str, Any]]:
        return [t.as_json() for t in self.tasks.values()]

    async def stop(self) -> None:
        """Cancel every task and wait for them."""
        tasks = [t.task for t in self.tasks.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass

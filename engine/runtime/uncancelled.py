"""Await a piece of work to its end even when the awaiting task is cancelled.

A group commit runs in a thread, and cancelling the task that awaits it does
not stop the thread. A stop (Ctrl-C, SIGTERM, the app closing) that arrives
while outcomes are being committed must neither leave the outbox believing
them uncommitted (their journal would stay behind for the next fold) nor let
the pass end while the commit is still running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def to_the_end(work: Awaitable[T]) -> T:
    """``await work``; a cancellation meanwhile is re-raised once ``work`` has finished."""
    future = asyncio.ensure_future(work)
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    result = future.result()  # the work's own exception, if it failed
    if cancelled:
        raise asyncio.CancelledError
    return result

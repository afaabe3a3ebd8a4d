"""A stop that lands while outcomes are being committed waits for the commit (engine/runtime/uncancelled.py)."""

import asyncio
import threading
import time

import pytest

from engine.runtime.uncancelled import to_the_end


async def test_a_cancel_during_a_commit_waits_for_it_then_stops():
    committed = threading.Event()

    def commit():
        time.sleep(0.2)
        committed.set()
        return 3

    task = asyncio.create_task(to_the_end(asyncio.to_thread(commit)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert committed.is_set()  # the task ended only after the thread had committed


async def test_without_a_cancel_the_result_or_the_error_comes_back():
    assert await to_the_end(asyncio.to_thread(lambda: 7)) == 7

    def broken():
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError, match="locked"):
        await to_the_end(asyncio.to_thread(broken))

"""Crash points for the kill tests: ``MAILBRANCH_CRASH_AT=point:n`` kills the
process (SIGKILL, no clean-up) the n-th time the point is reached.

The engine promises that a crash at any moment loses nothing and sends
nothing twice (SEMANTICS 8); the crash tests prove it at the moments that
matter: a timer claimed in memory, the middle of a batch, just before a
commit, right after the SMTP server said 250. With the variable unset this
is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = ("batch_loaded", "mid_batch", "before_commit", "after_commit", "after_smtp_250", "sink_before_commit",
          "outbox_claimed", "sandbox_stored", "publish_locked", "publish_mid", "publish_before_commit")

_target: tuple[str, int] | None = None
_hits: dict[str, int] = {}


def _parse(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    name, _, count = value.partition(":")
    return name, int(count or 1)


_target = _parse(os.environ.get("MAILBRANCH_CRASH_AT"))


def crash_point(name: str) -> None:
    if _target is None or _target[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)

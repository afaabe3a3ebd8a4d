"""Limits that keep an aiohttp server answering while slow or idle clients hold connections.

aiohttp parses requests well, but it holds as many connections as the
operating system lets it accept, and a client that opens a connection and
trickles its headers keeps it until the keep-alive timeout (an hour by
default). A few thousand such connections use up the process's file
descriptors; asyncio then stops accepting for a second at a time and logs a
traceback each time, so the tracking server is unreachable and its log
grows by megabytes.

``GuardedSite`` puts a thin protocol between the listening socket and
aiohttp's request handler that adds what is missing:

* a **header timeout**: a connection that has not sent a complete request
  head within ``header_timeout`` seconds of connecting is closed. Later
  requests on a kept-alive connection are bounded by aiohttp's own
  ``keepalive_timeout``, which (in aiohttp 3.14) counts from the end of the
  previous response and is not reset by trickled bytes;
* a **cap on connections**: when ``max_connections`` are open, a new
  connection takes the slot of the oldest one still waiting for its
  headers, else of the oldest idle kept-alive one; only when every slot is
  serving a request is the newcomer closed at once. A real client sends its
  request as soon as it connects, so it is answered even while thousands of
  slow ones come and go;
* **quiet logs**: every kind of rejection (slow headers, over the cap,
  malformed request, refused secret) gives one line, then at most one line a
  minute with a count, and never a traceback.

Pure asyncio and aiohttp: no Qt here, the engine process uses it too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from aiohttp import web

try:  # not on Windows
    import resource
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]

#: File descriptors kept free for the database, SMTP connections and the rest of the process.
_FD_RESERVE = 256
#: Ask for this many open files at most when raising the soft limit.
_FD_WANTED = 65536


@dataclass(frozen=True)
class ServerLimits:
    """How long a client may take and how many may be connected at once."""

    #: Seconds from connecting to the end of the first request's headers.
    header_timeout: float = 10.0
    #: Seconds a kept-alive connection may wait for (and send the headers of) its next request.
    keepalive_timeout: float = 15.0
    #: Open connections at most (lowered to fit the process's open-file limit).
    max_connections: int = 1000

    def handler_args(self, logger: logging.Logger) -> dict[str, Any]:
        """Keyword arguments for ``web.AppRunner``, passed on to every aiohttp request handler."""
        return {"keepalive_timeout": self.keepalive_timeout, "logger": logger}


class RejectionLog:
    """One log line per kind of rejection, then at most one per ``interval`` with a count.

    A flood of bad connections must not flood the log: the first of a kind
    says what happened; later ones are counted and reported together.
    """

    def __init__(self, logger: logging.Logger, server: str, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.server = server
        self.interval = interval
        self.clock = clock
        self.counts: dict[str, int] = {}  # all rejections of each kind since start
        self._pending: dict[str, int] = {}  # not yet reported
        self._last: dict[str, float] = {}
        self._sentence: dict[str, str] = {}

    def note(self, kind: str, sentence: str, error: Optional[BaseException] = None) -> None:
        """Count one rejection of ``kind``; ``sentence`` says what was done, in plain words.

        ``error`` (our own failure, not the client's) is logged with its
        traceback the first time only: enough to find the bug, not a flood.
        """
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self._pending[kind] = self._pending.get(kind, 0) + 1
        self._sentence[kind] = sentence
        now = self.clock()
        last = self._last.get(kind)
        if last is None:
            self._last[kind] = now
            self._pending[kind] = 0
            self.logger.warning("%s: %s (more of these are counted and logged at most once a minute)",
                                self.server, sentence, exc_info=error)
        elif now - last >= self.interval:
            self._report(kind, now)

    def flush(self) -> None:
        """Report what was counted but not yet logged (when the server stops)."""
        now = self.clock()
        for kind, pending in list(self._pending.items()):
            if pending:
                self._report(kind, now)

    def _report(self, kind: str, now: float) -> None:
        count, self._pending[kind] = self._pending[kind], 0
        seconds = max(1, round(now - self._last[kind]))
        self._last[kind] = now
        self.logger.warning("%s: %s, %d more times in the last %d s", self.server, self._sentence[kind],
                            count, seconds)


class QuietFilter(logging.Filter):
    """Turns aiohttp's per-request error logs (each with a traceback) into counted one-liners.

    Attached to the logger handed to aiohttp's request handlers: a
    malformed request from the internet is not our error, and a thousand of
    them must not write a thousand tracebacks.
    """

    def __init__(self, rejections: RejectionLog) -> None:
        super().__init__()
        self.rejections = rejections

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        error = record.exc_info[1] if record.exc_info else None
        what = type(error).__name__ if error is not None else "error"
        if str(record.msg).startswith("Error handling request"):
            sentence = f"answered a malformed request with an error ({what})"
        else:
            sentence = f"a request failed inside the server ({what}: {str(error)[:200]})"
        self.rejections.note(f"aiohttp:{what}", sentence)
        return False


def quiet_logger(name: str, rejections: RejectionLog) -> logging.Logger:
    """A logger for aiohttp's request handlers whose records go through ``QuietFilter``."""
    logger = logging.getLogger(name)
    logger.filters = [f for f in logger.filters if not isinstance(f, QuietFilter)]
    logger.addFilter(QuietFilter(rejections))
    return logger


def raise_open_file_limit(wanted: int = _FD_WANTED) -> int:
    """Raise the soft open-file limit towards the hard one; the soft limit now in force.

    Desktop systems often start processes with 1,024 open files, which a
    few hundred connections plus the database already strain; the hard
    limit is usually far higher and any process may raise itself up to it.
    """
    if resource is None:  # pragma: no cover - Windows has no such limit per process
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return wanted if soft == resource.RLIM_INFINITY else soft


def _idle(handler: asyncio.Protocol) -> bool:
    """True while aiohttp's handler waits for the next request (aiohttp's own keep-alive test)."""
    waiter = getattr(handler, "_waiter", None)
    return waiter is not None and not waiter.done() and not getattr(handler, "_messages", None)


class ConnectionGuard:
    """Admits, times and evicts connections for one listening site."""

    def __init__(self, limits: ServerLimits, rejections: RejectionLog) -> None:
        self.limits = limits
        self.rejections = rejections
        self.max_connections = limits.max_connections
        self.open = 0
        #: Connections that have not yet sent a complete request head, oldest first.
        self._unproven: OrderedDict[_Guarded, None] = OrderedDict()
        #: Connections that have, oldest first.
        self._proven: OrderedDict[_Guarded, None] = OrderedDict()

    def fit_to_open_file_limit(self) -> None:
        """Keep the cap below what the process may open, so accepting never fails with EMFILE."""
        budget = raise_open_file_limit() - _FD_RESERVE
        self.max_connections = max(16, min(self.limits.max_connections, budget))

    def factory(self, make_handler: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """Wraps aiohttp's protocol factory; admission happens when each connection is made."""
        return lambda: _Guarded(self, make_handler())

    def admit(self, connection: _Guarded) -> bool:
        """Take a slot for a new connection, evicting a slow or idle one if full; False: refuse it."""
        if self.open >= self.max_connections and not self._evict():
            self.rejections.note("over-cap", f"closed a new connection at once: all {self.max_connections} "
                                 "connections are busy with requests")
            return False
        self.open += 1
        self._unproven[connection] = None
        return True

    def _evict(self) -> bool:
        """Close the oldest slow or idle connection to make room; False if there is none."""
        if self._unproven:
            victim = next(iter(self._unproven))
            self.rejections.note("evicted-slow", "closed a connection still sending its headers to make room "
                                 "for a new one (too many connections)")
        else:
            victim = next((c for c in self._proven if _idle(c.handler)), None)
            if victim is None:
                return False
            self.rejections.note("evicted-idle", "closed an idle kept-alive connection to make room for a new "
                                 "one (too many connections)")
        victim.drop()
        return True

    def _gone(self, connection: _Guarded) -> None:
        self._unproven.pop(connection, None)
        self._proven.pop(connection, None)
        self.open -= 1


class _Guarded(asyncio.Protocol):
    """Passes everything on to aiohttp's handler, watching for the end of the first request head."""

    __slots__ = ("guard", "handler", "transport", "_timer", "_tail", "_counted", "_connected")

    def __init__(self, guard: ConnectionGuard, handler: asyncio.Protocol) -> None:
        self.guard = guard
        self.handler = handler
        self.transport: Optional[asyncio.Transport] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._tail = b""
        self._counted = False  # holds a slot
        self._connected = False  # aiohttp's handler knows of the connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.guard.admit(self):
            transport.abort()  # type: ignore[attr-defined]
            return
        self._counted = self._connected = True
        self._timer = asyncio.get_running_loop().call_later(self.guard.limits.header_timeout, self._too_slow)
        self.handler.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._connected:
            return
        if self._timer is not None:
            seen = self._tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self._proved()
            else:
                self._tail = seen[-3:]
        self.handler.data_received(data)

    def eof_received(self) -> Optional[bool]:
        return self.handler.eof_received() if self._connected else None

    def pause_writing(self) -> None:
        if self._connected:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self._connected:
            self.handler.resume_writing()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self._cancel_timer()
        self._release()
        if self._connected:
            self._connected = False
            self.handler.connection_lost(exc)

    def _proved(self) -> None:
        self._cancel_timer()
        if self in self.guard._unproven:
            del self.guard._unproven[self]
            self.guard._proven[self] = None

    def _too_slow(self) -> None:
        self._timer = None
        self.guard.rejections.note("slow-headers", "closed a connection that sent no complete request within "
                                   f"{self.guard.limits.header_timeout:g} s")
        self.drop()

    def drop(self) -> None:
        """Close at once; the slot is free now, not when the close completes."""
        self._cancel_timer()
        self._release()
        if self.transport is not None:
            self.transport.abort()

    def _release(self) -> None:
        if self._counted:
            self._counted = False
            self.guard._gone(self)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class GuardedSite(web.TCPSite):
    """A ``TCPSite`` whose connections pass through a ``ConnectionGuard``.

    Only ``start()`` differs from aiohttp's: the protocol factory handed to
    ``loop.create_server`` is wrapped.
    """

    __slots__ = ("guard",)

    def __init__(self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard,
                 backlog: int = 1024) -> None:
        super().__init__(runner, host, port, backlog=backlog)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        self.guard.fit_to_open_file_limit()
        self._server = await asyncio.get_running_loop().create_server(
            self.guard.factory(server), self._host, self._port, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


async def start_guarded(app: web.Application, host: str, port: int, limits: ServerLimits,
                        rejections: RejectionLog, logger_name: str, **runner_args: Any) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` behind a ``ConnectionGuard``; the runner to clean up later.

    aiohttp's request handlers get the limits' keep-alive timeout and a quiet
    logger named ``logger_name``. An ``OSError`` from listening is raised
    after the runner is cleaned up.
    """
    runner = web.AppRunner(app, access_log=None, **limits.handler_args(quiet_logger(logger_name, rejections)),
                           **runner_args)
    await runner.setup()
    try:
        await GuardedSite(runner, host, port, ConnectionGuard(limits, rejections)).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner

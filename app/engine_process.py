"""The engine as its own process: start it, reattach to it, watch it, restart it.

``mailbranch serve`` runs in a new session (so it can outlive the app when the
user keeps a campaign running in the background) with a fresh secret per
launch. Its one stdout line ``MAILBRANCH-CONTROL <port> TRACKING <port>`` goes
to a file in the data dir, which this module polls; its log goes to
``engine.log``. A state file (``engine.json``: port, secret, pid, database;
readable by the user only) lets the next app launch reattach to an engine
still running, after ``health()`` proves it is the right one.

A watchdog checks the process every second. If it dies without being asked
to, ``lost`` is emitted with a sentence for the user, the engine is started
again and the client reconnects; campaigns carry on from the database.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QTimer, Signal

from app.client import EngineClient, EngineError
from app.paths import data_dir

SECRET_ENV = "MAILBRANCH_CONTROL_SECRET"
STATE_FILE = "engine.json"
LAUNCH_TIMEOUT = 30.0
#: Give up restarting after this many unexpected deaths within ``CRASH_WINDOW`` seconds.
MAX_CRASHES = 3
CRASH_WINDOW = 60.0


@dataclass
class EngineOptions:
    """How to start the engine process (from the app's settings, or a test)."""

    data_dir: Path = field(default_factory=data_dir)
    db_path: Optional[Path] = None
    smtp_url: str = "sandbox"
    tracking_host: str = "127.0.0.1"
    tracking_port: int = 8025
    public_url: str = ""
    #: The public tracking relay real runs go through (docs/relay.md); empty: local only.
    relay_url: str = ""
    #: The bounce mailbox (``imaps://user@host``; its password from the keyring or file); empty: none.
    bounce_url: str = ""
    #: Pace per recipient domain; and the warm-up's messages on day one (0: none).
    pacing: bool = True
    warmup_per_day: int = 0

    def environment(self) -> dict[str, str]:
        env = {"MAILBRANCH_SMTP_URL": self.smtp_url or "sandbox"}
        if self.relay_url:
            env["MAILBRANCH_RELAY_URL"] = self.relay_url  # the engine pulls readers' events from it
        if self.bounce_url:
            env["MAILBRANCH_BOUNCE_URL"] = self.bounce_url  # serve's --bounce-imap, off the command line
        return env

    @property
    def database(self) -> Path:
        return Path(self.db_path) if self.db_path else Path(self.data_dir) / "mailbranch.db"

    def command(self) -> list[str]:
        # The SMTP URL (it may hold a password) goes in the environment (``environment()``),
        # never on the command line, where any local user can read it.
        args = [sys.executable, "-m", "engine.cli", "serve", "--db", str(self.database),
                "--tracking-host", self.tracking_host,
                "--tracking-port", str(self.tracking_port), "--control-port", "0"]
        # Through the relay, links and the open pixel point at the relay, which readers can reach.
        public = self.relay_url or self.public_url
        if public:
            args += ["--public-url", public]
        if not self.pacing:
            args.append("--no-pacing")
        elif self.warmup_per_day > 0:
            args += ["--warmup", str(self.warmup_per_day)]
        return args


class EngineStartError(EngineError):
    """The engine process could not be started; the message says why."""


def pid_alive(pid: int) -> bool:
    """True while the process runs (an exited child of ours is reaped, not counted)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: another app launch started it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EngineProcess(QObject):
    #: A short description of the engine's state, for the status bar.
    stateChanged = Signal(str)
    #: The engine died without being asked to; the sentence is for the user.
    lost = Signal(str)
    #: Connected (first start, reattach or restart); the flag is True when reattached.
    ready = Signal(bool)
    #: Restarting failed for good; the sentence is for the user.
    failed = Signal(str)

    def __init__(self, options: Optional[EngineOptions] = None, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.options = options or EngineOptions()
        self.client: Optional[EngineClient] = None
        self.pid: Optional[int] = None
        self.port: Optional[int] = None
        self.tracking_port: Optional[int] = None
        self.state = "stopped"
        self.reattached = False
        self._child: Optional[subprocess.Popen] = None
        self._stopping = False
        self._crashes: list[float] = []
        self._restart_task: Optional[asyncio.Task] = None
        self.watchdog = QTimer(self)
        self.watchdog.setInterval(1000)
        self.watchdog.timeout.connect(self.check)

    # -- paths -------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return Path(self.options.data_dir) / STATE_FILE

    @property
    def log_path(self) -> Path:
        return Path(self.options.data_dir) / "engine.log"

    @property
    def is_ready(self) -> bool:
        return self.state == "running" and self.client is not None

    def _set_state(self, state: str, text: str) -> None:
        self.state = state
        self.stateChanged.emit(text)

    # -- start or reattach --------------------------------------------------
    async def start(self) -> None:
        """Reattach to an engine left running for this database, or launch one."""
        self._stopping = False
        self._set_state("starting", "Engine: starting…")
        if await self._reattach():
            self.reattached = True
        else:
            await self._launch()
            self.reattached = False
        self.watchdog.start()
        self._set_state("running", f"Engine: running (pid {self.pid})")
        self.ready.emit(self.reattached)

    async def _reattach(self) -> bool:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            pid, port, secret = int(state["pid"]), int(state["port"]), str(state["secret"])
            same_db = Path(state["db"]).resolve() == self.options.database.resolve()
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if not same_db or not pid_alive(pid):
            return False
        client = EngineClient(port, secret, timeout=3.0)
        try:
            await client.health()
        except EngineError:
            await client.close()
            return False
        self.client, self.pid, self.port = client, pid, port
        self.tracking_port = state.get("tracking_port")
        # The engine left running knows its relay; the next run must not assume Settings' one.
        self.options = replace(self.options, relay_url=str(state.get("relay_url") or ""))
        self._child = None
        return True

    async def _launch(self) -> None:
        options = self.options
        Path(options.data_dir).mkdir(parents=True, exist_ok=True)
        options.database.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(32)
        out_path = Path(options.data_dir) / "engine.out"
        env = dict(os.environ, **{SECRET_ENV: secret}, **options.environment())
        for key in ("MAILBRANCH_RELAY_URL", "MAILBRANCH_BOUNCE_URL"):  # Settings decide, not the shell
            if key not in options.environment():
                env.pop(key, None)
        env["PYTHONUNBUFFERED"] = "1"
        with open(out_path, "wb") as out, open(self.log_path, "ab") as log:
            child = subprocess.Popen(options.command(), stdout=out, stderr=log, stdin=subprocess.DEVNULL,
                                     env=env, cwd=str(Path(__file__).resolve().parent.parent),
                                     start_new_session=True)
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        line = ""
        while time.monotonic() < deadline:
            try:
                text = out_path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            found = [x for x in text.splitlines() if x.startswith("MAILBRANCH-CONTROL ")]
            if found:
                line = found[0]
                break
            if child.poll() is not None:
                raise EngineStartError("The engine did not start: " + self._log_tail())
            await asyncio.sleep(0.05)
        if not line:
            child.kill()
            raise EngineStartError("The engine did not start within "
                                   f"{LAUNCH_TIMEOUT:.0f} s; see {self.log_path}.")
        parts = line.split()
        self.port = int(parts[1])
        self.tracking_port = int(parts[3]) if len(parts) > 3 else None
        self.pid = child.pid
        self._child = child
        if self.client is not None:
            await self.client.close()
        self.client = EngineClient(self.port, secret)
        self._write_state(secret)

    def _write_state(self, secret: str) -> None:
        data = {"pid": self.pid, "port": self.port, "secret": secret, "db": str(self.options.database),
                "tracking_port": self.tracking_port, "relay_url": self.options.relay_url}
        fd = os.open(self.state_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f)

    def _log_tail(self, lines: int = 3) -> str:
        try:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
        except OSError:
            return f"see {self.log_path}."
        return " ".join(tail) or f"see {self.log_path}."

    # -- watching ------------------------------------------------------------
    def alive(self) -> bool:
        if self._child is not None:
            return self._child.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    def check(self) -> None:
        """The watchdog: notice an engine that died, and start it again."""
        if self._stopping or self.state != "running" or self.alive():
            return
        code = self._child.returncode if self._child is not None else None
        how = f" (exit code {code})" if code is not None else ""
        self._crashes = [t for t in self._crashes if time.monotonic() - t < CRASH_WINDOW] + [time.monotonic()]
        if len(self._crashes) > MAX_CRASHES:
            self._set_state("failed", "Engine: stopped")
            self.watchdog.stop()
            self.failed.emit(f"The engine stopped{how} {len(self._crashes)} times in a minute, so Mailbranch "
                             f"gave up restarting it. Campaigns are safe in the database; see {self.log_path}.")
            return
        self._set_state("restarting", "Engine: restarting…")
        self.lost.emit(f"The engine process stopped unexpectedly{how}. Restarting it; your campaigns "
                       "carry on from where the database says they were.")
        self._restart_task = asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        try:
            await self._launch()
        except EngineError as exc:
            self._set_state("failed", "Engine: stopped")
            self.failed.emit(str(exc))
            return
        self._set_state("running", f"Engine: running again (pid {self.pid})")
        self.ready.emit(False)

    async def restart_with(self, options: EngineOptions) -> None:
        """Stop the engine and start it again with other options (the relay on or off).

        Campaigns wait while it restarts and carry on from the database; views keep
        working because every call goes through ``self.client``.
        """
        if self.state != "stopped":
            await self.shutdown()
        self.options = options
        await self.start()

    # -- stopping ------------------------------------------------------------
    async def detach(self) -> None:
        """Leave the engine running in the background (the next launch reattaches)."""
        self._stopping = True
        self.watchdog.stop()
        if self.client is not None:
            await self.client.close()
        self._child = None  # not killed: it runs in its own session
        self._set_state("detached", "Engine: running in the background")

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the engine process; campaigns resume when it starts again."""
        self._stopping = True
        self.watchdog.stop()
        if self.client is not None:
            try:
                await self.client.shutdown()
            except EngineError:
                pass
            await self.client.close()
        deadline = time.monotonic() + timeout
        while self.pid is not None and self.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.pid is not None and self.alive():
            try:
                os.kill(self.pid, 15)
            except ProcessLookupError:
                pass
        if self._child is not None:
            try:
                self._child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._child.kill()
        try:
            self.state_path.unlink()
        except OSError:
            pass
        self._set_state("stopped", "Engine: stopped")

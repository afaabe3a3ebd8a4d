"""Kill -9 the engine while it pours hundreds of emails into the outgoing server.

This is where a kill can make duplicates: with the outbox busy, a kill at a
random moment finds messages the server has just accepted whose outcome is
not yet committed. A *burst trial* runs ``mailbranch run`` on a one-email
flow with many leads, kills it (SIGKILL) a random moment after a launch's
first message reaches the server, starts it again with the same command,
and after the last kill lets it finish. Then every lead must have its email
exactly once by Message-ID (a copy more is a duplicate), every send must be
``sent``, and every token finished.

Used by ``tests/crash/test_crash_burst.py`` and ``bench/bench_crash.py``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Optional

from .harness import MAILBRANCH, ROOT, Server, TrialResult, _env, builtin_messages, free_port, now_ms


def one_email_flow(name: str) -> dict:
    return {
        "format": "mailbranch.flow/1", "name": name,
        "nodes": [{"id": "start", "type": "start"},
                  {"id": "e1", "type": "email", "subject": "Hello", "html": "<p>Hi {{ first_name }}</p>"},
                  {"id": "end", "type": "end"}],
        "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "end"}],
    }


class BurstTrial:
    def __init__(self, workdir: Path, server: Optional[Server], name: str, kills: int, leads: int,
                 rng: random.Random, timeout: float = 180.0) -> None:
        self.dir = workdir / name
        self.dir.mkdir(parents=True)
        (self.dir / "home").mkdir()
        self.server = server
        self.name = name
        self.domain = f"{name}.example"
        self.kills = kills
        self.leads = leads
        self.rng = rng
        self.timeout = timeout
        self.db_path = self.dir / "campaign.db"
        self.flow_path = self.dir / "flow.json"
        self.flow_path.write_text(json.dumps(one_email_flow(name)))
        self.leads_path = self.dir / "leads.csv"
        with self.leads_path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["email", "first_name"])
            for i in range(leads):
                w.writerow([f"lead{i}@{self.domain}", f"L{i}"])
        self.result = TrialResult(name, [], server="external" if server is not None else "builtin")

    def command(self) -> list[str]:
        smtp = f"smtp://127.0.0.1:{self.server.port}" if self.server is not None else "sandbox"
        return [*MAILBRANCH, "run", str(self.flow_path), "--leads", str(self.leads_path), "--db", str(self.db_path),
                "--smtp", smtp, "--tracking-port", str(free_port()), "--quiet"]

    def _copies(self) -> tuple[list[str], int]:
        """Message-IDs of every copy the server received for this trial, and resends it turned away."""
        if self.server is not None:
            return [mid for mid, _at in self.server.messages(self.domain)], 0
        rows, turned_away = builtin_messages(self.db_path)
        return [mid for mid, _at in rows], turned_away

    def run(self) -> TrialResult:
        started = time.monotonic()
        deadline = started + self.timeout
        launch = 0
        while time.monotonic() < deadline:
            launch += 1
            with (self.dir / f"launch{launch}.log").open("w") as log:
                proc = subprocess.Popen(self.command(), stdout=log, stderr=log, env=_env(self.dir), cwd=ROOT,
                                        start_new_session=True)
                if len(self.result.killed) < self.kills:
                    self._kill_while_sending(proc)
                try:
                    rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    self.result.problems.append("the engine did not finish in time")
                    break
            if rc == 0:
                break
            if rc != -signal.SIGKILL:
                self.result.problems.append(f"launch {launch} exited with {rc}: "
                                            f"{(self.dir / f'launch{launch}.log').read_text()[-2000:]}")
                break
        self.result.launches = launch
        self._compare()
        self.result.seconds = time.monotonic() - started
        return self.result

    def _kill_while_sending(self, proc: subprocess.Popen) -> None:
        """SIGKILL a random moment (0 to 150 ms) after this launch's first message reached the server."""
        before = len(self._copies()[0])
        wait_until = time.monotonic() + 60
        while time.monotonic() < wait_until and proc.poll() is None:
            if len(self._copies()[0]) > before:
                break
            time.sleep(0.01)
        else:
            return  # it finished (nothing left to send) or never started sending
        time.sleep(self.rng.uniform(0.0, 0.15))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            self.result.killed.append(("burst", now_ms()))

    def _compare(self) -> None:
        r = self.result
        try:
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=30)) as c:
                ids = {mid for (mid,) in c.execute("SELECT message_id FROM sends")}
                unsent = c.execute("SELECT COUNT(*) FROM sends WHERE status <> 'sent'").fetchone()[0]
                leads = c.execute("SELECT COUNT(*) FROM leads").fetchone()[0]
                stuck = c.execute("SELECT COUNT(DISTINCT lead_id) FROM tokens WHERE state NOT IN ('finished', 'failed')"
                                  ).fetchone()[0]
                complete = c.execute("SELECT complete_at FROM campaigns").fetchone()
        except sqlite3.OperationalError as exc:
            r.problems.append(f"cannot read the campaign: {exc}")
            return
        copies, turned_away = self._copies()
        counts = Counter(copies)
        r.duplicates_250 = sum(n - 1 for n in counts.values()) + turned_away
        r.lost_sends = (self.leads - len(ids)) + unsent + len(ids - set(counts))
        r.stuck_leads = stuck
        if leads != self.leads or complete is None or complete[0] is None:
            r.problems.append(f"campaign not complete: {leads} leads, complete_at {complete}")
        if r.lost_sends or r.stuck_leads:
            r.problems.append(f"{r.lost_sends} sends lost, {r.stuck_leads} leads stuck")


def run_bursts(workdir: Path, server: Optional[Server], trials: int, kills: int, leads: int, seed: int,
               parallel: int = 2) -> list[TrialResult]:
    from concurrent.futures import ThreadPoolExecutor

    kind = "external" if server is not None else "builtin"
    rngs = [random.Random(seed * 1000 + i) for i in range(trials)]
    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(lambda i: BurstTrial(workdir, server, f"burst-{kind}-{i}", kills, leads, rngs[i]).run(),
                             range(trials)))

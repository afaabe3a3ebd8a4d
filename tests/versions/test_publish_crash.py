"""A kill at any moment of publishing leaves a consistent campaign (SEMANTICS 11):
killed before the commit, every token is still in the old version, whole, and
publishing again works; the campaign then runs to its end as if published once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from engine.run.clock import SimulatedClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.store.models import Campaign, CampaignVersion, Token, Wait
from tests.conftest import ROOT, fresh_database
from tests.versions.support import DRIP, D, H, flow, sends, without_w0

POINTS = ("publish_locked", "publish_mid", "publish_before_commit")


def _publish(db, edited: str, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MAILBRANCH_CRASH_AT"}
    if crash:
        env["MAILBRANCH_CRASH_AT"] = crash
    return subprocess.run([sys.executable, "-m", "engine.cli", "publish", edited, "--db", db.url, "--map", "w0=w9"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def _state(db) -> tuple:
    with db.session() as s:
        campaign = s.get(Campaign, 1)
        return (campaign.version, s.execute(select(func.count()).select_from(CampaignVersion)).scalar(),
                sorted(s.execute(select(Token.node, Token.state)).all()),
                sorted(s.execute(select(Wait.node, Wait.state, Wait.due_at)).all()))


#: Every point on SQLite; on PostgreSQL the middle one (a dropped connection rolls back the same way).
CASES = [("sqlite", p) for p in POINTS] + [("postgresql", "publish_mid")]


@pytest.mark.parametrize(("backend", "point"), CASES, ids=[f"{b}-{p}" for b, p in CASES])
def test_a_kill_while_publishing_leaves_the_old_version_whole(backend, point, tmp_path):
    engine_db = fresh_database(backend, tmp_path)
    now = int(time.time() * 1000)
    engine = CampaignEngine.create(engine_db, flow(DRIP), SimulatedClock(now))
    engine.enroll([LeadInput(f"lead{i}", f"lead{i}@example.com") for i in range(4)])
    engine.run_to_end(now)
    before = _state(engine_db)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(without_w0("2h")))
    killed = _publish(engine_db, str(edited), f"{point}:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _state(engine_db) == before
    done = _publish(engine_db, str(edited))
    assert done.returncode == 0, done.stderr
    version, count, tokens, _waits = _state(engine_db)
    assert (version, count) == (2, 2) and tokens == [("w9", "waiting")] * 4
    engine.run_to_end()
    assert [(key, node) for key, node, _at in sends(engine_db, 1)] == sorted(
        [(f"lead{i}", n) for i in range(4) for n in ("e1", "e2")])
    # Moved onto w9 (2h) when the publish committed, not back to w0's day.
    assert all(2 * H < at - now < 2 * H + 10 * 60_000 for _key, node, at in _raw_sends(engine_db) if node == "e2")
    assert engine.complete_at is not None and engine.complete_at - now < D
    engine_db.dispose()


def _raw_sends(db):
    from engine.store.models import Lead, Send

    with db.session() as s:
        return s.execute(select(Lead.key, Send.node, Send.at).join(Lead, Lead.id == Send.lead_id)).all()

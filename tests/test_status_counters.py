"""`mailbranch status` shows the rejected tracking requests a run counted."""

import json
import subprocess
import sys
from types import SimpleNamespace

from engine.delivery.smtp import SmtpSettings
from engine.runtime.runner import CampaignRunner, RunnerSettings
from engine.store.database import Database


def test_rejected_tracking_requests_reach_status(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    db = Database(tmp_path / "run.db")
    db.migrate()
    runner = CampaignRunner(db, [], RunnerSettings(SmtpSettings.from_url("sandbox")))
    runner.tracking = SimpleNamespace(counters=SimpleNamespace(rejected=3))
    runner._count_rejections()
    runner.tracking.counters.rejected = 5
    runner._count_rejections()
    runner._count_rejections()  # nothing new: nothing added
    db.dispose()
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "status", "--db", str(tmp_path / "run.db"),
                           "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tracking_rejected"] == 5

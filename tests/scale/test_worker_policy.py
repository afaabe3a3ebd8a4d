"""Scale-out workers follow the same delivery policy as the embedded engine: a
server that refuses the session pauses the worker's sending as a whole (all
its deliver jobs), fails nobody, shows in ``status``, and resumes once fixed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from engine.delivery.smtp import SmtpSettings
from engine.flow.fileformat import flow_from_data
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.runtime.policy import DeliveryPolicy
from engine.scale.worker import WorkerState, libpq_url
from engine.store.bulk import fetch_all
from tests.integration.picky_smtp import PickyServer
from tests.integration.support import one_email_json

FAST = DeliveryPolicy(retry_base=0.05, retry_cap=0.2, outage_probe=0.1, outage_cap=0.5, session_probe=0.1,
                      session_cap=0.3)
MAILBRANCH = Path(sys.executable).parent / "mailbranch"


def rows(db, sql: str) -> list[tuple]:
    with db.session() as s:
        return [tuple(r) for r in fetch_all(s, sql)]


async def test_a_refused_session_pauses_the_workers_sending_fails_nobody_and_resumes_when_fixed(scale_db, tmp_path):
    picky = PickyServer(mail_reply="550 5.7.1 Sender not allowed here")
    await picky.start()
    state = None
    try:
        engine = CampaignEngine.create(scale_db, flow_from_data(one_email_json()), SystemClock(), delivery="real",
                                       settings={"distributed": True, "shards": 2})
        engine.enroll([LeadInput(f"l{i}", f"lead{i}@example.com") for i in range(4)])
        await asyncio.to_thread(engine.process_until, SystemClock().now())
        assert rows(scale_db, "SELECT status, COUNT(*) FROM sends GROUP BY status") == [("queued", 4)]
        state = WorkerState(scale_db, SmtpSettings.from_url(f"smtp://127.0.0.1:{picky.port}"),
                            "http://127.0.0.1:8025", policy=FAST)
        resume_at = await state.deliver(engine.campaign_id, 0)
        assert state.outbox_status.state == "paused" and state.outbox_status.cause == "session"
        assert "550 5.7.1 Sender not allowed here" in state.outbox_status.reason
        assert resume_at == state.outbox_status.resume_at  # the deliver job comes back then
        # The other shard's job, in the same worker, sees the pause: nothing tried, nothing spent.
        assert await state.deliver(engine.campaign_id, 1) == state.outbox_status.resume_at
        assert rows(scale_db, "SELECT status, attempts, COUNT(*) FROM sends GROUP BY status, attempts") == [
            ("queued", 0, 4)]
        assert picky.received == []

        env = {**os.environ, "MAILBRANCH_HOME": str(tmp_path / "home"), "NO_COLOR": "1", "COLUMNS": "200"}
        shown = subprocess.run([str(MAILBRANCH), "status", "--db", libpq_url(scale_db.url), "--json"], env=env,
                               capture_output=True, text=True, timeout=60)
        outboxes = json.loads(shown.stdout)["delivery"]["outboxes"]
        (worker_row,) = [v for k, v in outboxes.items() if k.startswith("outbox:worker:")]
        assert worker_row["state"] == "paused" and "550" in worker_row["reason"]

        picky.mail_reply = None
        await asyncio.sleep(0.2)
        for shard in (0, 1):
            assert await state.deliver(engine.campaign_id, shard) is None
        assert rows(scale_db, "SELECT status, COUNT(*) FROM sends GROUP BY status") == [("sent", 4)]
        assert sorted(picky.recipients()) == [f"lead{i}@example.com" for i in range(4)]
        assert state.outbox_status.state != "paused"
    finally:
        if state is not None and state.sender is not None:
            await state.sender.close()
        await picky.stop()

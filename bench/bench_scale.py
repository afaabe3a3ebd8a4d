"""Flow C with N leads and their events, on PostgreSQL with 1, 2 and 4 workers,
and on the embedded SQLite engine for comparison.

Waits are scaled from days to seconds (w1 3s, w2 2s, w3 1s) so processing,
not waiting, dominates. A load generator in this process watches the sends
and records opens and clicks through the tracking sink as they "arrive"
(30% open e1, a third of those also click; 10% of the rest click e3).
Prints, per set-up: leads finished per second (leads / time to completion),
timer lag p99 (how late waits fired, beyond the wake grace), and the ratio of
each to one worker. Needs a PostgreSQL server (MAILBRANCH_TEST_PG, or run
scripts/start-postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.flow.fileformat import load_flow  # noqa: E402
from engine.run.clock import SystemClock  # noqa: E402
from engine.run.engine import CampaignEngine, LeadInput  # noqa: E402
from engine.runtime.sink import EngineSink  # noqa: E402
from engine.store.bulk import fetch_all  # noqa: E402
from engine.store.database import Database  # noqa: E402

MB = [sys.executable, "-m", "engine.cli"]


def scaled_flow():
    flow = load_flow(ROOT / "resources" / "flows" / "flow-c.json")
    for node_id, seconds in (("w1", "3s"), ("w2", "2s"), ("w3", "1s")):
        flow.set_setting(node_id, "duration", seconds)
    return flow


class EventGenerator(threading.Thread):
    """Opens and clicks for sends as they appear, recorded like tracking requests."""

    def __init__(self, db: Database, campaign_id: int, seed: int = 1, on_events=None) -> None:
        super().__init__(daemon=True)
        self.db, self.campaign_id, self.rng = db, campaign_id, random.Random(seed)
        self.sink = EngineSink(db)
        self.sink.on_events = on_events
        self.stop = threading.Event()
        self.recorded = 0

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        last = 0
        opened: set[int] = set()
        while not self.stop.is_set():
            with self.db.session() as s:
                rows = fetch_all(s, "SELECT id, lead_id, node FROM sends WHERE campaign_id = ? AND id > ?"
                                    " ORDER BY id", (self.campaign_id, last))
            calls = []
            for send_id, lead_id, node in rows:
                last = max(last, send_id)
                roll = random.Random(lead_id).random()
                now = int(time.time() * 1000)
                if node == "e1" and roll < 0.30:
                    opened.add(lead_id)
                    calls.append(self.sink.record_open(self.campaign_id, send_id, now))
                    if random.Random(lead_id * 7).random() < 1 / 3:
                        calls.append(self.sink.record_click(self.campaign_id, send_id,
                                                            "https://shop.example/offer", now + 1))
                elif node == "e3" and lead_id not in opened and random.Random(lead_id * 11).random() < 0.10:
                    calls.append(self.sink.record_click(self.campaign_id, send_id, "https://shop.example/offer",
                                                        now))
            if calls:
                await asyncio.gather(*calls)
                self.recorded += len(calls)
            await asyncio.sleep(0.2)


def wait_complete(db: Database, campaign_id: int, timeout: float) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with db.session() as s:
            row = fetch_all(s, "SELECT started_at, complete_at FROM campaigns WHERE id = ?", (campaign_id,))[0]
        if row[1] is not None:
            return (row[1] - row[0]) / 1000
        time.sleep(0.25)
    raise TimeoutError("the campaign did not complete in time")


def lag_p99(db: Database, campaign_id: int, grace_ms: int) -> float:
    with db.session() as s:
        lags = sorted(max(0, r[0] - r[1] - grace_ms) for r in fetch_all(
            s, "SELECT fired_at, due_at FROM waits WHERE campaign_id = ? AND state = 'fired'", (campaign_id,)))
    return lags[int(len(lags) * 0.99) - 1] / 1000 if lags else 0.0


def fresh_pg(admin: str) -> str:
    import psycopg

    name = f"mb_bench_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return admin.rsplit("/", 1)[0] + "/" + name


def run_postgres(admin: str, leads: int, workers: int, tmp: Path, env: dict) -> tuple[float, float]:
    from engine.scale.worker import build_app, ensure_schema, libpq_url

    url = fresh_pg(admin)
    db = Database(url)
    db.migrate()
    app = build_app(libpq_url(db.url), None)

    async def schema() -> None:
        async with app.open_async():
            await ensure_schema(app, db)

    asyncio.run(schema())
    sandbox = subprocess.Popen(MB + ["sandbox", "--db", str(tmp / f"mbx{workers}.db"), "--port", "0"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(sandbox.stdout.readline().split()[1])
    engine = CampaignEngine.create(db, scaled_flow(), SystemClock(), delivery="real",
                                   settings={"distributed": True, "shards": 64})
    procs = [subprocess.Popen(MB + ["worker", "--db", url, "--smtp", f"smtp://127.0.0.1:{port}", "--concurrency",
                                    "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(workers)]
    jobs = engine.ctx.jobs
    generator = EventGenerator(db, engine.campaign_id, on_events=lambda s, ev: jobs.wake_at(
        s, [(lead, at) for _c, lead, at in ev]))
    try:
        engine.enroll(LeadInput(f"lead-{i}", f"lead-{i}@example.com") for i in range(leads))
        generator.start()
        seconds = wait_complete(db, engine.campaign_id, timeout=3600)
        return leads / seconds, lag_p99(db, engine.campaign_id, jobs.grace_ms)
    finally:
        generator.stop.set()
        for p in [*procs, sandbox]:
            p.terminate()
        for p in [*procs, sandbox]:
            p.wait(timeout=30)
        db.dispose()


def run_sqlite(leads: int, tmp: Path) -> tuple[float, float]:
    from engine.delivery.smtp import SmtpSettings
    from engine.runtime.runner import CampaignRunner, RunnerSettings

    db = Database(tmp / "embedded.db")
    db.migrate()
    engine = CampaignEngine.create(db, scaled_flow(), SystemClock(), delivery="real")
    settings = RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=1000, poll_seconds=0.2)
    runner = CampaignRunner(db, [engine], settings)
    generator = EventGenerator(db, engine.campaign_id)

    async def main() -> None:
        await runner.start()
        try:
            engine.enroll(LeadInput(f"lead-{i}", f"lead-{i}@example.com") for i in range(leads))
            generator.start()
            await runner.run()
        finally:
            await runner.stop()

    asyncio.run(main())
    generator.stop.set()
    seconds = wait_complete(db, engine.campaign_id, timeout=10)
    return leads / seconds, lag_p99(db, engine.campaign_id, 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    admin = os.environ.get("MAILBRANCH_TEST_PG", "").replace("postgresql+psycopg://", "postgresql://")
    if not admin:
        sys.exit("set MAILBRANCH_TEST_PG (eval \"$(scripts/start-postgres)\")")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {**os.environ, "MAILBRANCH_HOME": str(tmp / "home"), "PYTHONPATH": str(ROOT)}
        os.environ["MAILBRANCH_HOME"] = env["MAILBRANCH_HOME"]
        results = {}
        for count in [int(x) for x in args.workers.split(",")]:
            results[f"postgresql, {count} worker(s)"] = run_postgres(admin, args.leads, count, tmp, env)
            print(f"postgresql, {count} worker(s): done", file=sys.stderr)
        results["sqlite, embedded (1 process)"] = run_sqlite(args.leads, tmp)
    base = next(iter(results.values()))
    print(f"flow C (waits 3s/2s/1s), {args.leads:,} leads, events from a load generator")
    print(f"{'set-up':34} {'leads/s':>9} {'x1':>6} {'lag p99':>9} {'x1':>6}")
    for name, (rate, lag) in results.items():
        print(f"{name:34} {rate:9.0f} {rate / base[0]:6.2f} {lag:8.2f}s {lag / base[1] if base[1] else 0:6.2f}")
    print(json.dumps({k: {"leads_per_s": round(v[0], 1), "lag_p99_s": round(v[1], 3)} for k, v in results.items()}))


if __name__ == "__main__":
    main()

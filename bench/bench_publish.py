"""Impact preview and publish with N leads in flight (default 100,000).

Flow A (SEMANTICS 7) runs for N leads on a simulated clock until 1 hour in:
every lead has had e1, its token waits on w1 (3 days) and c1 listens. Then
the marketer shortens w1 to 1 day (every wait re-timed, every listener's
window moved, no email gained or lost), and, second case, replaces w1 by a
new wait w9 of 2 days with the tokens mapped onto it. For each: the impact
preview (both versions played forward for every lead) and the publish (one
transaction), timed apart. Targets: preview under 3 s, publish under 5 s.
Each time is printed with the CPU time of this process and, on PostgreSQL,
of the server's processes (read from /proc): on a machine other work
loads, their sum is what the wall time would be on an idle one.

    .venv/bin/python bench/bench_publish.py [--leads N] [--db postgresql+psycopg://... | --pg]

``--pg`` uses the server in MAILBRANCH_TEST_PG (as bench_scale does); its
tables are dropped and made again.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.flow.fileformat import flow_from_data  # noqa: E402
from engine.run.clock import SimulatedClock  # noqa: E402
from engine.run.engine import CampaignEngine, LeadInput  # noqa: E402
from engine.sim.simulate import SIM_START  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.versions.impact import preview  # noqa: E402
from engine.versions.publish import publish  # noqa: E402
from tests.versions.support import FLOW_A, edited  # noqa: E402

H = 3_600_000


def replaced_w1() -> dict:
    data = copy.deepcopy(FLOW_A)
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "w1"] + [{"id": "w9", "type": "wait", "duration": "2d"}]
    data["edges"] = [e if e.get("port") != "no" else {**e, "to": "w9"} for e in data["edges"] if e["from"] != "w1"]
    data["edges"].append({"from": "w9", "to": "e3"})
    return data


def fresh(url: str | None, folder: Path) -> Database:
    if url is None:
        db = Database(folder / "bench.db")
    else:
        from sqlalchemy import inspect

        from engine.store.schema import include_name

        db = Database(url)
        with db.engine.begin() as connection:
            ours = [n for n in inspect(connection).get_table_names() if include_name(n, "table", {})]
            if ours:
                connection.exec_driver_sql("DROP TABLE " + ", ".join(f'"{n}"' for n in ours) + " CASCADE")
    db.migrate()
    return db


def in_flight(db: Database, leads: int) -> CampaignEngine:
    engine = CampaignEngine.create(db, flow_from_data(FLOW_A), SimulatedClock(SIM_START))
    engine.enroll([LeadInput(f"lead-{i}", f"lead-{i}@example.com") for i in range(leads)])
    engine.run_to_end(SIM_START + H)
    engine.clock.reach(SIM_START + H)
    return engine


def server_cpu(db: Database) -> float | None:
    """CPU seconds the PostgreSQL server's processes for this database have used (read
    from /proc: the server runs on this machine), or None on SQLite or when unreadable."""
    if db.is_sqlite:
        return None
    with db.engine.connect() as connection:
        pids = connection.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                          ).scalars().all()
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def timed(what: str, call, db: Database):
    """Wall time, and the CPU time of this process and of the database server's processes:
    on a machine others load, their sum is what the figure would be on an idle one."""
    server = server_cpu(db)
    started, cpu = time.perf_counter(), time.process_time()
    result = call()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    after = server_cpu(db)
    spent = "" if server is None or after is None else f" + {after - server:.2f} s of the server's"
    print(f"  {what}: {seconds:.2f} s ({cpu:.2f} s of CPU{spent}; load average {os.getloadavg()[0]:.1f})",
          flush=True)
    return result, (seconds, cpu + (after - server if server is not None and after is not None else 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="A PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--pg", action="store_true", help="The PostgreSQL server in MAILBRANCH_TEST_PG")
    args = parser.parse_args()
    if args.pg:
        args.db = os.environ.get("MAILBRANCH_TEST_PG") or sys.exit("set MAILBRANCH_TEST_PG to a PostgreSQL URL")
    worst = {"preview": (0.0, 0.0), "publish": (0.0, 0.0)}
    with tempfile.TemporaryDirectory() as folder:
        for case, data, mapping in (("w1 shortened from 3d to 1d", edited(FLOW_A, w1="1d"), None),
                                    ("w1 replaced by w9 (2d), tokens mapped", replaced_w1(), {"w1": "w9"})):
            db = fresh(args.db, Path(folder))
            started = time.perf_counter()
            engine = in_flight(db, args.leads)
            print(f"{case} ({args.leads:,} leads in flight on {'PostgreSQL' if args.db else 'SQLite'}; "
                  f"set up in {time.perf_counter() - started:.1f} s)", flush=True)
            edited_flow = flow_from_data(data)
            impact, preview_s = timed("impact preview", partial(preview, db, engine.campaign_id, edited_flow, mapping,
                                                                clock=engine.clock), db)
            result, publish_s = timed("publish", partial(publish, db, engine.campaign_id, edited_flow,
                                                         mapping=mapping, clock=engine.clock), db)
            print(f"  {impact.leads_simulated:,} leads played forward ({impact.plays} plays of alike leads); gained {impact.leads_gaining}, "
                  f"lost {impact.leads_losing}; published version {result.number}: "
                  f"{result.changes['retimed_waits']:,} waits re-timed, moved {result.changes['moved']}, "
                  f"{result.changes['listeners_followed']:,} listeners follow", flush=True)
            worst["preview"] = max(worst["preview"], preview_s)
            worst["publish"] = max(worst["publish"], publish_s)
            db.dispose()
    print("worst (wall s, CPU s): " + ", ".join(f"{k} {w:.2f}, {c:.2f} (target < {3 if k == 'preview' else 5} s)"
                                                  for k, (w, c) in worst.items()))


if __name__ == "__main__":
    main()

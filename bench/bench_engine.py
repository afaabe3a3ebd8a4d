"""Simulate N leads (default 100,000) through SEMANTICS flow C on a SQLite file.

30% open e1 at random times within 3 days, a third of those also click e1 a
little later; 10% of the rest click e3 within a day of it being sent. Prints
wall time, peak memory, rows written, and the floor: a bare batched
SQLAlchemy insert of the same number of rows, in the same run, on the same
machine. Targets: under 30 s, under 400 MB, within 4x of the floor.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.flow import load_flow  # noqa: E402
from engine.run.engine import LeadInput  # noqa: E402
from engine.sim.simulate import simulate  # noqa: E402
from engine.store.database import Database  # noqa: E402

H, D = 3600, 86400


def make_events(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for i in range(1, n + 1):
        lead = f"lead-{i}"
        roll = rng.random()
        if roll < 0.30:
            opened = rng.uniform(0, 3 * D)
            events.append({"lead": lead, "type": "open", "email": "e1", "at": opened})
            if rng.random() < 1 / 3:
                events.append({"lead": lead, "type": "click", "email": "e1", "at": opened + rng.uniform(0, 6 * H),
                               "url": "https://shop.example/offer"})
        elif rng.random() < 0.10:
            events.append({"lead": lead, "type": "click", "email": "e3", "at": 3 * D + rng.uniform(0, D),
                           "url": "https://shop.example/offer"})
    return events


def floor_insert(path: Path, rows: int) -> float:
    """The same number of rows, inserted by SQLAlchemy in batches, in WAL mode."""
    db = Database(path)
    meta = MetaData()
    table = Table("floor", meta, Column("id", Integer, primary_key=True), Column("a", BigInteger),
                  Column("b", String(100)), Column("c", BigInteger))
    meta.create_all(db.engine)
    start = time.perf_counter()
    with db.session() as s:
        for offset in range(0, rows, 10000):
            s.execute(insert(table), [{"a": i, "b": "node", "c": i * 7}
                                      for i in range(offset, min(rows, offset + 10000))])
    elapsed = time.perf_counter() - start
    db.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args()
    flow = load_flow(ROOT / "resources" / "flows" / "flow-c.json")
    events = make_events(args.leads)
    leads = [LeadInput(f"lead-{i}") for i in range(1, args.leads + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        start = time.perf_counter()
        result = simulate(flow, leads, events, db=db, collect=False)
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        db.dispose()
        rows = result.rows_written + len(events)
        floor = floor_insert(Path(tmp) / "floor.db", rows)
    print(f"leads:            {args.leads:,}")
    print(f"events:           {len(events):,}")
    print(f"sends:            {sum(f.sent for f in result.figures.nodes.values()):,}")
    print(f"complete at:      {result.complete_at} s of campaign time")
    print(f"wall time:        {wall:.2f} s   (target < 30 s)")
    print(f"peak memory:      {peak_mb:.0f} MB (process max RSS; target < 400 MB)")
    print(f"rows written:     {rows:,} (inserts and updates)")
    print(f"floor (bare insert of {rows:,} rows): {floor:.2f} s")
    print(f"ratio to floor:   {wall / floor:.2f}x (target < 4x)")


if __name__ == "__main__":
    main()

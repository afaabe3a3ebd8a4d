"""Simulate N leads (default 100,000) through two flows on a SQLite file.

Flow C (SEMANTICS 7): 30% open e1 at random times within 3 days, a third of
those also click e1 a little later; 10% of the rest click e3 within a day of
it being sent. Prints wall time, peak memory, rows written, and the floor: a
bare batched SQLAlchemy insert of the same number of rows, in the same run,
on the same machine. Targets: under 30 s, under 400 MB, within 4x of the floor.

Variants (issue 14): a check (plan is pro?), a send window for the pros in
their own time zone, an A/B split, a condition on the open and a goal: 30%
open their branch's email, a third of those click it, a tenth of the openers
buy (a conversion); 15% get a privacy proxy's machine open. Prints wall time
and peak memory (targets: under 30 s, under 400 MB), and what each branch did.

Each flow runs in its own process, so each peak is its own.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.flow import load_flow  # noqa: E402
from engine.nodes.registry import node_type  # noqa: E402
from engine.nodes.split import choose  # noqa: E402
from engine.run.engine import LeadInput  # noqa: E402
from engine.sim.simulate import SIM_START, simulate  # noqa: E402
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


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


OFFER, BUY = "https://shop.example/offer", "https://shop.example/buy"
#: The pros' own zones; one in six has none (the flow's Europe/Paris) and one a zone that does not exist.
ZONES = ("America/New_York", "Europe/Berlin", "Asia/Tokyo", "America/Los_Angeles", "", "Mars/Olympus")


def variants_flow():
    """The Variants flow (module docstring), from ``resources/flows/variants.json``, as the report tests run it."""
    return load_flow(ROOT / "resources" / "flows" / "variants.json")


def variants_leads(n: int, seed: int = 2) -> list[LeadInput]:
    rng = random.Random(seed)
    leads = []
    for i in range(1, n + 1):
        fields = {"first_name": f"Lead{i}", "plan": "pro" if rng.random() < 0.5 else "free"}
        if fields["plan"] == "pro":
            fields["tz"] = rng.choice(ZONES)
        leads.append(LeadInput(f"lead-{i}", f"lead-{i}@example.com", fields))
    return leads


def variants_events(flow, leads: list[LeadInput], seed: int = 3) -> list[dict]:
    """Events on the email of the branch each lead takes (the split is a pure function of the key).

    Everything happens a day or more after the start, after the last window (Los Angeles) has opened."""
    node = flow.node("s1")
    spec = node_type("split").compile(node, flow, {})
    rng = random.Random(seed)
    events = []
    for lead in leads:
        email = "ea" if choose(spec.salt, lead.key, spec.ports, spec.bounds) == "a" else "eb"
        if rng.random() < 0.15:
            events.append({"lead": lead.key, "type": "open", "email": email, "at": D + 1, "machine": True})
        if rng.random() < 0.30:
            opened = D + rng.uniform(0, 2 * D)
            events.append({"lead": lead.key, "type": "open", "email": email, "at": opened})
            if rng.random() < 1 / 3:
                events.append({"lead": lead.key, "type": "click", "email": email, "url": OFFER,
                               "at": opened + rng.uniform(0, 6 * H)})
            if rng.random() < 0.10:
                events.append({"lead": lead.key, "type": "click", "email": "e2", "url": BUY,
                               "at": opened + rng.uniform(H, D)})
    return events


def run_variants(n: int) -> None:
    flow = variants_flow()
    leads = variants_leads(n)
    events = variants_events(flow, leads)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        start, cpu_start = time.perf_counter(), cpu_seconds()
        result = simulate(flow, leads, events, db=db, collect=False, start=SIM_START)
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        db.dispose()
    f = result.figures
    print("flow:             variants (check, send window, A/B split, condition, goal)")
    print(f"leads:            {n:,}")
    print(f"events:           {len(events):,} ({sum(1 for e in events if e.get('machine')):,} by machines)")
    print(f"sends:            {sum(x.sent for x in f.nodes.values()):,}")
    print(f"check:            YES {f.nodes['ch'].ports.get('yes', 0):,} · NO {f.nodes['ch'].ports.get('no', 0):,}")
    for port, b in f.nodes["s1"].extra["branches"].items():
        print(f"branch {port.upper()}:         {b['leads']:,} leads, {b['sent']:,} sent, {b['opened']:,} opened "
              f"({b['open_rate']:.1%}), {b['clicked']:,} clicked ({b['click_rate']:.1%})")
    print(f"converted:        {f.converted:,}; machine events {f.machine_events:,}")
    print(f"complete at:      {result.complete_at} s of campaign time")
    print(f"wall time:        {wall:.2f} s   (target < 30 s)")
    print(f"cpu time:         {cpu:.2f} s   (user + system; below the wall time when other work shares the CPUs)")
    print(f"peak memory:      {peak_mb:.0f} MB (process max RSS; target < 400 MB)")
    print(f"rows written:     {result.rows_written + len(events):,} (inserts and updates)")


def run_flow_c(n: int) -> None:
    flow = load_flow(ROOT / "resources" / "flows" / "flow-c.json")
    events = make_events(n)
    leads = [LeadInput(f"lead-{i}") for i in range(1, n + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.db")
        start, cpu_start = time.perf_counter(), cpu_seconds()
        result = simulate(flow, leads, events, db=db, collect=False)
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        db.dispose()
        rows = result.rows_written + len(events)
        floor = floor_insert(Path(tmp) / "floor.db", rows)
    print("flow:             C (SEMANTICS 7)")
    print(f"leads:            {n:,}")
    print(f"events:           {len(events):,}")
    print(f"sends:            {sum(f.sent for f in result.figures.nodes.values()):,}")
    print(f"complete at:      {result.complete_at} s of campaign time")
    print(f"wall time:        {wall:.2f} s   (target < 30 s)")
    print(f"cpu time:         {cpu:.2f} s   (user + system; below the wall time when other work shares the CPUs)")
    print(f"peak memory:      {peak_mb:.0f} MB (process max RSS; target < 400 MB)")
    print(f"rows written:     {rows:,} (inserts and updates)")
    print(f"floor (bare insert of {rows:,} rows): {floor:.2f} s")
    print(f"ratio to floor:   {wall / floor:.2f}x (target < 4x)")


FLOWS = {"c": run_flow_c, "variants": run_variants}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--flow", choices=[*FLOWS, "both"], default="both",
                        help="Which flow to run (default: both, each in its own process).")
    args = parser.parse_args()
    if args.flow != "both":
        FLOWS[args.flow](args.leads)
        return
    for index, name in enumerate(FLOWS):
        if index:
            print()
        sys.stdout.flush()
        done = subprocess.run([sys.executable, __file__, "--flow", name, "--leads", str(args.leads)])
        if done.returncode:
            sys.exit(done.returncode)


if __name__ == "__main__":
    main()

"""Kill -9 the engine again and again, with the built-in sandbox and with an
outside SMTP server in a process of its own, and count what went twice.

Two kinds of trial, each for both kinds of server:

- *campaign* trials: flow C, six leads, waits of a few seconds, opens and
  clicks arriving; one to ``--max-kills`` kills per trial, at a random moment
  or a random crash point; restarted until complete and compared with the
  simulator (``tests/crash/harness.py``);
- *burst* trials: one email to ``--burst-leads`` leads, each launch killed a
  random moment (0-150 ms) after its first message reached the server, the
  worst moment for duplicates (``tests/crash/burst.py``).

The outside server keeps every copy (``tests/crash/counting_smtp.py``), as a
lead's inbox would; the built-in sandbox keeps one and counts the resends it
turned away. Prints kills, duplicates per kill, lost sends, lost events and
stuck leads.

    .venv/bin/python bench/bench_crash.py --trials 20 --bursts 6
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from crash.burst import run_bursts  # noqa: E402
from crash.harness import CountingServer, TrialResult, random_kills, run_trials  # noqa: E402

TARGET = 1 / 20  # duplicates per kill


def _row(label: str, results: list[TrialResult]) -> str:
    kills = sum(len(r.killed) for r in results)
    dups = sum(r.duplicates for r in results)
    per_kill = f"{dups / kills:.3f}" if kills else "-"
    return (f"  {label:<18} {kills:>5} {dups:>10} {per_kill:>8} {sum(r.lost_sends for r in results):>10}"
            f" {sum(r.lost_events for r in results):>11} {sum(r.stuck_leads for r in results):>11}"
            f" {sum(1 for r in results if r.diverged):>8}")


def _table(title: str, by_server: dict[str, list[TrialResult]]) -> None:
    print(title)
    print(f"  {'server':<18} {'kills':>5} {'duplicates':>10} {'per kill':>8} {'lost sends':>10}"
          f" {'lost events':>11} {'stuck leads':>11} {'diverged':>8}")
    for label, results in by_server.items():
        print(_row(label, results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="campaign trials per kind of server")
    parser.add_argument("--parallel", type=int, default=4, help="campaign trials running at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-kills", type=int, default=3, help="kills per campaign trial: 1 to this")
    parser.add_argument("--bursts", type=int, default=6, help="burst trials per kind of server")
    parser.add_argument("--burst-kills", type=int, default=3, help="kills per burst trial")
    parser.add_argument("--burst-leads", type=int, default=600)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    specs = {kind: [(f"{kind}-{i}", random_kills(rng, rng.randint(1, args.max_kills))) for i in range(args.trials)]
             for kind in ("builtin", "external")}
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bench-crash-"))
    outside = CountingServer(tmp)
    try:
        campaign = {"built-in sandbox": run_trials(tmp, None, specs["builtin"], parallel=args.parallel),
                    "outside server": run_trials(tmp, outside, specs["external"], parallel=args.parallel)}
        burst = {"built-in sandbox": run_bursts(tmp, None, args.bursts, args.burst_kills, args.burst_leads,
                                                args.seed),
                 "outside server": run_bursts(tmp, outside, args.bursts, args.burst_kills, args.burst_leads,
                                              args.seed)}
    finally:
        outside.close()
    elapsed = time.monotonic() - started
    every = [r for results in (*campaign.values(), *burst.values()) for r in results]
    kills = Counter(how.split(":")[0].split("@")[0] for r in every for how, _at in r.killed)
    print(f"trials: {len(every)} in {elapsed:.0f}s; engine kills: {sum(kills.values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(kills.items()))})")
    _table("kills at random moments of a campaign (flow C, compared with the simulator):", campaign)
    _table(f"kills in the middle of sending ({args.burst_leads} leads, 0-150 ms after a launch's first message):",
           burst)
    print("all kills:")
    for label in campaign:
        results = campaign[label] + burst[label]
        n = sum(len(r.killed) for r in results)
        dups = sum(r.duplicates for r in results)
        verdict = "within" if n and dups / n <= TARGET else "above"
        print(f"  {label:<18} {dups} duplicates in {n} kills: {dups / max(n, 1):.3f} per kill "
              f"({verdict} the target of 1 per {round(1 / TARGET)})")
    print(f"  lost sends {sum(r.lost_sends for r in every)}, lost events {sum(r.lost_events for r in every)}, "
          f"stuck leads {sum(r.stuck_leads for r in every)}")
    diverged = [r for r in every if r.diverged]
    if not diverged:
        shutil.rmtree(tmp)
    else:
        print(f"trial directories (logs, databases): {tmp}")
    for r in diverged[:10]:
        print(f"\n{r.name} ({r.server}) kills={[k.describe() for k in r.kills]} killed={r.killed}")
        for problem in r.problems:
            print("  -", problem[:600])


if __name__ == "__main__":
    main()

"""Hundreds of kill/restart trials of a real campaign (flow C, six leads,
waits of a few seconds), each compared with the simulator.

Each trial kills the engine one to three times, at a random crash point
(random n) or at a random moment, and restarts it until the campaign is
complete; see ``tests/crash/harness.py`` for what is compared.

    .venv/bin/python bench/bench_crash.py --trials 200 --parallel 8
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

from crash.harness import Sandbox, random_kills, run_trials  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--parallel", type=int, default=8, help="trials running at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-kills", type=int, default=3, help="kills per trial: 1 to this")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    specs = [(f"b{i}", random_kills(rng, rng.randint(1, args.max_kills))) for i in range(args.trials)]
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="bench-crash-")
    sandbox = Sandbox(Path(tmp))
    try:
        results = run_trials(Path(tmp), sandbox, specs, parallel=args.parallel)
    finally:
        sandbox.close()
    elapsed = time.monotonic() - started
    kills = [how.split(":")[0].split("@")[0] for r in results for how, _at in r.killed]
    diverged = [r for r in results if r.diverged]
    print(f"trials tried:            {len(results)} in {elapsed:.0f}s ({args.parallel} at once)")
    print(f"engine kills:            {len(kills)} ({', '.join(f'{k} {v}' for k, v in sorted(Counter(kills).items()))})")
    print(f"launches:                {sum(r.launches for r in results)}")
    print(f"diverged from reference: {len(diverged)}")
    print(f"duplicate sends, 250 window (kill between the server's 250 and the commit): "
          f"{sum(r.duplicates_250 for r in results)} in {sum(1 for r in results if r.duplicates_250)} trials")
    print(f"duplicate sends elsewhere: {sum(r.duplicates_elsewhere for r in results)}")
    print(f"events via tracking HTTP: {sum(r.events_by_http for r in results)}, "
          f"recorded while the engine was down: {sum(r.events_by_sink for r in results)}")
    if not diverged:
        shutil.rmtree(tmp)
    else:
        print(f"trial directories (logs, databases): {tmp}")
    for r in diverged[:10]:
        print(f"\n{r.name} kills={[k.describe() for k in r.kills]} killed={r.killed}")
        for problem in r.problems:
            print("  -", problem[:600])


if __name__ == "__main__":
    main()

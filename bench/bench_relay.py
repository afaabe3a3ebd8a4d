"""The public tracking relay: events committed per second, and the desktop's catch-up.

1. Events: the relay app (token check, machine rules, events committed
   together every 50 ms into its own SQLite file in WAL mode, as the relay
   runs) under 64 concurrent keep-alive connections from the load generator
   of ``bench_tracking.py`` in a second process. A pixel is answered once its
   event is accepted; the relay is then stopped as in production, and the
   bench checks that every answered event was committed (a crash may lose
   the last 50 ms, a clean stop nothing: docs/relay.md).
2. Ceiling: the same generator against a bare aiohttp handler returning the
   same GIF on the same route, in the same run; the ratio is printed.
3. Sync: 100,000 events waiting at a relay running in its own process (the
   laptop slept); the time for ``RelaySync`` to pull them over HTTP in
   batches and record them in the engine's SQLite database (campaign and
   send checks, machine rules, unique keys, cursor), then a second pull that
   finds nothing.

Targets: >= 10,000 events/s committed; 100,000 events synced in < 10 s.
Prints figures; asserts nothing about timings.

    .venv/bin/python bench/bench_relay.py [--seconds 5] [--events 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_tracking import CONNECTIONS, campaign_with_sends, drive  # noqa: E402

SECRET = b"bench-secret-0123456789abcdef0123456789"
SYNC_SECRET = b"bench-sync-secret-0123456789abcdef0123456789"


async def bench_events(workdir: Path, seconds: float, warmup: float) -> tuple[dict, dict, dict]:
    from aiohttp import web

    from engine.delivery.tracking_server import PIXEL_GIF, Counters
    from engine.delivery.tracking_tokens import TrackingTokens
    from engine.relay.app import RelayServer, RelaySink, build_relay_app
    from engine.relay.store import RelayStore

    tokens = TrackingTokens(SECRET)
    paths = [f"/o/{tokens.open_token('bench-campaign-uid-AAAAAA', sid)}.gif" for sid in range(1, 20_001)]
    store = RelayStore(workdir / "relay" / "relay.db")
    counters = Counters()
    server = RelayServer(build_relay_app(tokens, RelaySink(store), store=store, sync_secret=SYNC_SECRET,
                                         counters=counters))
    await server.start()
    cpu = time.process_time()
    try:
        load = await drive(server.port, paths, seconds, warmup)
    finally:
        load["cpu"] = time.process_time() - cpu  # this process: the relay (the generator runs in another)
        await server.stop()
    figures = {"recorded": store.recorded, "commits": store.commits, "stored": store.waiting(0),
               "answered": counters.opens}
    store.close()

    answered = [0]

    async def bare(_request: web.Request) -> web.Response:
        answered[0] += 1
        return web.Response(body=PIXEL_GIF, content_type="image/gif")

    app = web.Application()
    app.router.add_get("/o/{token}.gif", bare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    cpu = time.process_time()
    try:
        ceiling = await drive(runner.addresses[0][1], paths, seconds, warmup)
    finally:
        ceiling["cpu"], ceiling["answered"] = time.process_time() - cpu, answered[0]
        await runner.cleanup()
    return load, ceiling, figures


def relay_process(data: Path) -> tuple[subprocess.Popen, int]:
    (data / "tracking.secret").write_bytes(SECRET + b"\n")
    (data / "relay-sync.secret").write_bytes(SYNC_SECRET + b"\n")
    process = subprocess.Popen([sys.executable, "-m", "engine.cli", "relay", "serve", "--data", str(data),
                                "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "MAILBRANCH_HOME": str(data / "home")})
    line = process.stdout.readline()
    if not line.startswith("MAILBRANCH-RELAY "):
        process.kill()
        raise SystemExit(f"the relay did not start: {line!r}")
    return process, int(line.split()[1])


async def bench_sync(workdir: Path, count: int, batch: int) -> dict:
    from engine.relay.store import RelayStore
    from engine.relay.sync import RelayClient, RelaySync
    from engine.store.bulk import fetch_all
    from engine.store.database import Database

    db = Database(workdir / "desktop.db")
    db.migrate()
    engine, send_ids = campaign_with_sends(db, 20_000)
    data = workdir / "sync-relay"
    store = RelayStore(data / "relay.db")
    base = time.time_ns() // 1_000_000 - 86_400_000  # a day of opens while the laptop slept
    rows = [("open", engine.uid, str(send_ids[i % len(send_ids)]), None, None, base + i * 800, None)
            for i in range(count)]
    for start in range(0, count, 50_000):
        store.insert_many(rows[start:start + 50_000])
    store.close()
    process, port = relay_process(data)
    try:
        sync = RelaySync(db, RelayClient(f"http://127.0.0.1:{port}", SYNC_SECRET.decode()), batch=batch)
        started, cpu = time.perf_counter(), time.process_time()
        pulled = await sync.sync_once()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        again = await sync.sync_once()
        await sync.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    with db.session() as s:
        stored = fetch_all(s, "SELECT COUNT(*), COUNT(DISTINCT relay_key) FROM events WHERE source = 'tracking'")[0]
    db.dispose()
    return {"pulled": pulled, "again": again, "seconds": elapsed, "cpu": cpu, "stored": stored[0],
            "distinct": stored[1], "error": sync.state.error, "batch": batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per load run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--events", type=int, default=100_000, help="events waiting at the relay for the sync")
    parser.add_argument("--batch", type=int, default=5000, help="events per pull")
    parser.add_argument("--only", choices=("events", "sync"))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mailbranch-bench-relay-"))
    try:
        if args.only in (None, "events"):
            load, ceiling, store = asyncio.run(bench_events(workdir, args.seconds, args.warmup))
            rate = load["requests"] / load["seconds"]
            ceiling_rate = ceiling["requests"] / ceiling["seconds"]
            print(f"relay (own SQLite, WAL, group commit), {CONNECTIONS} connections, generator in a second process:")
            print(f"  {rate:,.0f} events/s answered; p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, "
                  f"max {load['max_ms']:.1f} ms; statuses {load['statuses']}, connection errors {load['errors']}")
            print(f"  store: {store['recorded']:,} events in {store['commits']:,} commits "
                  f"({store['recorded'] / max(store['commits'], 1):.0f} per commit); {store['stored']:,} rows for "
                  f"{store['answered']:,} answered: "
                  + ("every answered event committed" if store["stored"] == store["answered"] else "EVENTS LOST"))
            print(f"bare aiohttp pixel handler (same run): {ceiling_rate:,.0f} req/s; p50 {ceiling['p50_ms']:.1f} ms")
            print(f"  ratio: the relay does {rate / ceiling_rate:.0%} of the bare handler")
            # Wall-clock rates move with whatever else the machine runs; CPU per request does not.
            relay_cost = load["cpu"] / max(store["recorded"], 1) * 1e6
            bare_cost = ceiling["cpu"] / max(ceiling["answered"], 1) * 1e6
            print(f"  CPU per request: relay {relay_cost:.0f} µs (at most {1e6 / relay_cost:,.0f} events/s on one "
                  f"core), bare handler {bare_cost:.0f} µs ({1e6 / bare_cost:,.0f}/s); ratio {bare_cost / relay_cost:.0%}")
            print(f"  target: >= 10,000 events/s {'met' if rate >= 10000 else 'MISSED'}")
        if args.only in (None, "sync"):
            sync = asyncio.run(bench_sync(workdir, args.events, args.batch))
            print(f"sync: {sync['pulled']:,} events from a relay process into the engine's SQLite in "
                  f"{sync['seconds']:.2f} s = {sync['pulled'] / sync['seconds']:,.0f} events/s "
                  f"(batches of {sync['batch']:,}; desktop CPU {sync['cpu']:.2f} s); "
                  f"second pull {sync['again']}; rows {sync['stored']:,}, distinct keys {sync['distinct']:,}"
                  + (f"; error: {sync['error']}" if sync["error"] else ""))
            print(f"  target: {args.events:,} events in < 10 s {'met' if sync['seconds'] < 10 else 'MISSED'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

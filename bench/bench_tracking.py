"""Tracking server and outbox throughput, on loopback, with real parts.

1. Events: the tracking server with a real ``EngineSink`` on a SQLite file
   (a campaign whose sends exist), under 64 concurrent keep-alive
   connections from a load generator in a second process. A pixel is
   answered only once its event is committed, so answered pixels per second
   are committed events per second. p50/p99 are per request, measured by the
   generator.
2. Ceiling: the same generator against a bare aiohttp handler returning the
   same GIF on the same route.
3. Sends: queued sends through the ``Outbox`` (render, SMTP over a few reused
   connections, settle) into the sandbox SMTP server running in a second
   process with its own SQLite file.

Targets: >= 10,000 events/s committed with p99 < 50 ms; >= 1,500 sends/s.
Prints figures; asserts nothing about timings.

    .venv/bin/python bench/bench_tracking.py [--seconds 5] [--sends 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.delivery.smtp import SANDBOX_CONNECTIONS  # noqa: E402

CONNECTIONS = 64


# -- the load generator (second process) --------------------------------------

def generate(port: int, paths: list[str], seconds: float, warmup: float, connections: int) -> dict:
    """Keep ``connections`` HTTP/1.1 keep-alive connections busy; raw asyncio streams,
    so the generator costs far less per request than the server it measures."""
    return asyncio.run(_generate(port, paths, seconds, warmup, connections))


async def _generate(port: int, paths: list[str], seconds: float, warmup: float, connections: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    deadline = measure_from + seconds
    requests = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() for p in paths]

    async def worker(i: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        j = i
        try:
            while True:
                now = time.perf_counter()
                if now >= deadline:
                    return
                writer.write(requests[j % len(requests)])
                j += connections
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                done = time.perf_counter()
                if now >= measure_from:
                    latencies.append(done - now)
                    status = int(head[9:12])
                    statuses[status] = statuses.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "seconds": seconds, "statuses": statuses, "errors": errors,
            "p50_ms": latencies[n // 2] * 1000 if n else None,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else None,
            "max_ms": latencies[-1] * 1000 if n else None}


async def drive(port: int, paths: list[str], seconds: float, warmup: float) -> dict:
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return await loop.run_in_executor(pool, generate, port, paths, seconds, warmup, CONNECTIONS)


# -- a campaign whose sends exist ------------------------------------------------

def one_email_flow():
    from engine.flow.fileformat import loads_flow

    return loads_flow(json.dumps({
        "format": "mailbranch.flow/1", "name": "Bench",
        "nodes": [{"id": "start", "type": "start"},
                  {"id": "e1", "type": "email", "subject": "Hello {{ first_name | default('there') }}",
                   "html": "<html><body><p>Hi {{ first_name }}, our <a href='https://shop.example/offer'>"
                           "offer</a> is here.</p></body></html>"},
                  {"id": "end", "type": "end"}],
        "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "end"}],
    }))


def campaign_with_sends(db, leads: int):
    """A real-delivery campaign with ``leads`` queued sends of e1; returns (engine, send ids)."""
    from engine.run.clock import SystemClock
    from engine.run.engine import CampaignEngine, LeadInput
    from engine.store.bulk import fetch_all

    engine = CampaignEngine.create(db, one_email_flow(), SystemClock(), delivery="real")
    engine.enroll(LeadInput(f"lead-{i}", f"lead{i}@example.com", {"first_name": f"L{i}"})
                  for i in range(1, leads + 1))
    engine.process_until()
    with db.session() as s:
        ids = [r[0] for r in fetch_all(s, "SELECT id FROM sends WHERE campaign_id = ? ORDER BY id",
                                       (engine.campaign_id,))]
    return engine, ids


# -- 1 and 2: events -------------------------------------------------------------

async def bench_events(workdir: Path, seconds: float, warmup: float) -> tuple[dict, dict, dict]:
    from aiohttp import web

    from engine.delivery.tracking_server import PIXEL_GIF, TrackingServer
    from engine.delivery.tracking_tokens import TrackingTokens
    from engine.runtime.sink import EngineSink
    from engine.store.bulk import fetch_all
    from engine.store.database import Database

    db = Database(workdir / "events.db")
    db.migrate()
    engine, send_ids = campaign_with_sends(db, 20_000)
    tokens = TrackingTokens(b"bench-secret-0123456789abcdef0123456789")
    paths = [f"/o/{tokens.open_token(engine.uid, sid)}.gif" for sid in send_ids]

    sink = EngineSink(db)
    server = TrackingServer(tokens, sink, port=0)
    await server.start()
    try:
        load = await drive(server.port, paths, seconds, warmup)
    finally:
        await server.stop()
    with db.session() as s:
        stored = fetch_all(s, "SELECT COUNT(*) FROM events WHERE source = 'tracking'")[0][0]
    sink_figures = {"recorded": sink.recorded, "commits": sink.commits, "stored": stored,
                    "rejected": server.counters.rejected, "sink_errors": server.counters.sink_errors}
    db.dispose()

    async def bare(_request: web.Request) -> web.Response:
        return web.Response(body=PIXEL_GIF, content_type="image/gif")

    app = web.Application()
    app.router.add_get("/o/{token}.gif", bare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        ceiling = await drive(runner.addresses[0][1], paths, seconds, warmup)
    finally:
        await runner.cleanup()
    return load, ceiling, sink_figures


# -- 3: sends ----------------------------------------------------------------------

def sandbox_process(path: str, ports, stop) -> None:
    """The sandbox SMTP server in its own process, storing into its own SQLite file."""
    async def main() -> None:
        from engine.delivery.sandbox import SandboxServer
        from engine.store.database import Database

        db = Database(path)
        db.migrate()
        sandbox = SandboxServer(db)
        await sandbox.start()
        ports.put(sandbox.port)
        cpu = time.process_time()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        ports.put((sandbox.received, time.process_time() - cpu))
        await sandbox.stop()

    asyncio.run(main())


async def bench_sends(workdir: Path, count: int, connections: int) -> dict:
    from engine.delivery.smtp import Sender, SmtpSettings
    from engine.delivery.tracking_tokens import TrackingTokens
    from engine.run.clock import SystemClock
    from engine.runtime.outbox import Outbox
    from engine.store.database import Database

    ctx = multiprocessing.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=sandbox_process, args=(str(workdir / "sandbox.db"), ports, stop))
    child.start()
    try:
        port = ports.get(timeout=30)
        db = Database(workdir / "sends.db")
        db.migrate()
        campaign_with_sends(db, count)
        settings = SmtpSettings.from_url(f"smtp://127.0.0.1:{port}?connections={connections}&timeout=30")
        tokens = TrackingTokens(b"bench-secret-0123456789abcdef0123456789")
        async with Sender(settings) as sender:
            outbox = Outbox(db, sender, tokens, lambda: "http://127.0.0.1:8025", SystemClock().now, batch=500)
            started, cpu = time.perf_counter(), time.process_time()
            settled = 0
            while outbox.pending():
                settled += await outbox.run_once()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        stop.set()
        received, sandbox_cpu = ports.get(timeout=30)
        return {"sends": settled, "sent": outbox.status.sent, "failed": outbox.status.failed,
                "retried": outbox.status.retried, "received": received, "seconds": elapsed,
                "outbox_cpu": cpu, "sandbox_cpu": sandbox_cpu,
                "connections": connections}
    finally:
        stop.set()
        child.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per load run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--sends", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=SANDBOX_CONNECTIONS,
                        help="SMTP connections for the send bench (default: the built-in sandbox's pool)")
    parser.add_argument("--only", choices=("events", "sends"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailbranch-bench-") as tmp:
        workdir = Path(tmp)
        if args.only in (None, "events"):
            load, ceiling, sink = asyncio.run(bench_events(workdir, args.seconds, args.warmup))
            rate = load["requests"] / load["seconds"]
            ceiling_rate = ceiling["requests"] / ceiling["seconds"]
            print(f"tracking server + EngineSink (SQLite file), {CONNECTIONS} connections, "
                  f"generator in a second process:")
            print(f"  {rate:,.0f} events/s committed; p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms, "
                  f"max {load['max_ms']:.1f} ms; statuses {load['statuses']}, connection errors {load['errors']}")
            print(f"  sink: {sink['recorded']:,} events in {sink['commits']:,} commits "
                  f"({sink['recorded'] / max(sink['commits'], 1):.0f} per commit); {sink['stored']:,} rows stored; "
                  f"rejected {sink['rejected']}, sink errors {sink['sink_errors']}")
            print(f"bare aiohttp pixel handler (ceiling): {ceiling_rate:,.0f} req/s; p50 {ceiling['p50_ms']:.1f} ms, "
                  f"p99 {ceiling['p99_ms']:.1f} ms")
            print(f"  ratio: the tracking server does {rate / ceiling_rate:.0%} of the ceiling")
            print(f"  targets: >= 10,000 events/s {'met' if rate >= 10000 else 'MISSED'}; "
                  f"p99 < 50 ms {'met' if load['p99_ms'] < 50 else 'MISSED'}")
        if args.only in (None, "sends"):
            sends = asyncio.run(bench_sends(workdir, args.sends, args.connections))
            per_second = sends["sent"] / sends["seconds"]
            print(f"outbox -> sandbox (second process) over {sends['connections']} reused connections: "
                  f"{sends['sent']:,} sent in {sends['seconds']:.2f} s = {per_second:,.0f} sends/s "
                  f"(failed {sends['failed']}, retried {sends['retried']}, sandbox received {sends['received']:,})")
            print(f"  CPU: outbox process {sends['outbox_cpu']:.2f} s "
                  f"({1000 * sends['outbox_cpu'] / max(sends['sent'], 1):.2f} ms/send), sandbox process "
                  f"{sends['sandbox_cpu']:.2f} s ({1000 * sends['sandbox_cpu'] / max(sends['received'], 1):.2f} ms/message)")
            print(f"  target: >= 1,500 sends/s {'met' if per_second >= 1500 else 'MISSED'}")


if __name__ == "__main__":
    main()

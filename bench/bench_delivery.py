"""Sends per second into the sandbox and through a real Postfix on loopback, DKIM on and off.

Each send is what the outbox does per message: build it for the lead
(``compose.Outgoing.build``: render, the sender identity's headers, VERP, and
the DKIM signature when on), then deliver it over a pool of reused SMTP
connections, with up to twice as many messages in flight as connections.

- sandbox: the built-in SMTP server in a second process, storing every message
  in its own SQLite file (as ``bench_tracking.py`` runs it);
- Postfix: a real Postfix on loopback with a throwaway configuration
  (``tests/mailservers.py``, needs root and the Debian packages), which queues
  each message and delivers it to a maildir.

Also prints what building one message costs with and without the signature
(dkimpy's RSA is pure Python). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_delivery.py [--sends 1000] [--dkim-sends 300] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

UID = "AbCdEfGhIjKlMnOpQrStUg"  # a canonical uid, as Campaign.uid makes them
SAMPLE = ROOT / "resources" / "flows" / "sample.json"


def outgoing():
    from engine.delivery.compose import Outgoing
    from engine.flow.fileformat import loads_flow

    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["sender"] = {"name": "Spring Shop", "address": "news@spring-shop.example",
                      "reply_to": "help@spring-shop.example"}
    flow = loads_flow(json.dumps(data))
    return Outgoing.for_node(flow, flow.node("e1"))


def build_all(count: int, signer, start: int = 0):
    """Yield (envelope, recipient, bytes) built as the outbox builds them."""
    from engine.delivery.tracked_links import TrackingUrls
    from engine.delivery.tracking_tokens import TrackingTokens

    tokens = TrackingTokens("b" * 64)
    node = outgoing()
    for i in range(start, start + count):
        to = f"lead{i}@example.com"
        urls = TrackingUrls("https://t.spring-shop.example", tokens, UID, i + 1, i + 1, to)
        envelope, raw = node.build({"first_name": f"Lead {i}"}, to=to, urls=urls, tokens=tokens, send_id=i + 1,
                                   message_id=f"<t{i}.e1.{UID}@spring-shop.example>", signer=signer)
        yield envelope, to, raw


def build_cost(count: int, signer) -> float:
    started = time.perf_counter()
    for _ in build_all(count, signer):
        pass
    return (time.perf_counter() - started) / count


async def pipeline(url: str, count: int, signer, connections: int, start: int) -> tuple[float, int]:
    """(sends per second, failures): build each message just before a slot frees, then send."""
    from engine.delivery.smtp import Sender, SmtpSettings

    settings = SmtpSettings.from_url(f"{url}?connections={connections}")
    slots = asyncio.Semaphore(2 * connections)
    messages = build_all(count, signer, start)
    failures = 0
    async with Sender(settings) as sender:
        async def one() -> None:
            nonlocal failures
            async with slots:
                envelope, to, raw = next(messages)
                outcome = await sender.send_raw(envelope, [to], raw)
                failures += not outcome.ok
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        elapsed = time.perf_counter() - started
    return count / elapsed, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=1000, help="messages per run without DKIM")
    parser.add_argument("--dkim-sends", type=int, default=300, help="messages per run with DKIM")
    parser.add_argument("--connections", type=int, default=8, help="SMTP connections in the pool")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mb-bench-delivery-"))
    os.environ["MAILBRANCH_HOME"] = str(home)
    from engine.delivery.dkim_signing import DkimSigner, new_key

    new_key("spring-shop.example", "bench")
    signer = DkimSigner()
    plain_cost, signed_cost = build_cost(200, None), build_cost(50, signer)
    print(f"building one message (render, identity headers, VERP): {plain_cost * 1e3:.2f} ms without DKIM, "
          f"{signed_cost * 1e3:.2f} ms with the DKIM signature (dkimpy, RSA-2048: "
          f"{(signed_cost - plain_cost) * 1e3:.1f} ms)")

    from bench_tracking import sandbox_process

    ctx = multiprocessing.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=sandbox_process, args=(str(home / "sandbox.db"), ports, stop))
    child.start()
    targets = [("sandbox (second process, SQLite)", f"smtp://127.0.0.1:{ports.get(timeout=60)}")]
    servers = None
    try:
        from tests.mailservers import start_mail_servers, why_mail_servers_cannot_run

        reason = why_mail_servers_cannot_run()
        if reason is None:
            servers = start_mail_servers()
            targets.append(("Postfix on loopback (queue + maildir)", servers.smtp_url))
        else:
            print(f"Postfix: skipped ({reason})")
        offset = 0
        for name, url in targets:
            for dkim, count in (("off", args.sends), ("on", args.dkim_sends)):
                rate, failed = asyncio.run(pipeline(url, count, signer if dkim == "on" else None,
                                                    args.connections, offset))
                offset += count
                print(f"{name}, DKIM {dkim}: {rate:,.0f} sends/s ({count:,} messages, {args.connections} "
                      f"connections{f', {failed} failed' if failed else ''})")
    finally:
        stop.set()
        child.join(timeout=30)
        if servers is not None:
            from tests.mailservers import stop_mail_servers

            stop_mail_servers(servers)


if __name__ == "__main__":
    main()

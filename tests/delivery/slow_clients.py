"""A slow-header flood, run as its own process: ``python slow_clients.py PORT N SECONDS``.

Keeps N loopback connections open to PORT, each sending the start of a
request and then one more header line every half second, never the end of
the head; a connection the server closes is opened again. Prints ``ready``
once N are open, runs until its standard input is closed (or SECONDS have
passed, in case the test died), then prints one JSON line: connections
opened and how many the server closed.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys


async def main(port: int, count: int, seconds: float) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    stop = asyncio.Event()

    def on_stdin() -> None:
        if not sys.stdin.buffer.raw.read(4096):
            stop.set()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    stats = {"opened": 0, "closed_by_server": 0, "connect_errors": 0}
    opened = asyncio.Event()

    def going() -> bool:
        return not stop.is_set() and loop.time() < deadline

    async def one_slot() -> None:
        while going():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                stats["connect_errors"] += 1
                await asyncio.sleep(0.2)
                continue
            stats["opened"] += 1
            if stats["opened"] >= count:
                opened.set()
            try:
                writer.write(b"GET /o/slow.gif HTTP/1.1\r\nHost: flood\r\n")
                while going():
                    try:
                        if await asyncio.wait_for(reader.read(1024), 0.5) == b"":
                            stats["closed_by_server"] += 1
                            break
                    except TimeoutError:
                        writer.write(b"X-Slow: 1\r\n")
            except OSError:
                stats["closed_by_server"] += 1
            finally:
                writer.transport.abort()

    slots = [asyncio.create_task(one_slot()) for _ in range(count)]
    await asyncio.wait_for(opened.wait(), seconds)
    print("ready", flush=True)
    await asyncio.gather(*slots)
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))

"""A plain SMTP server that accepts everything and logs every copy it receives.

It stands for an outside mail server in the crash tests and
``bench/bench_crash.py``: it runs as its own process (it outlives the
engine's kills), it knows nothing of Mailbranch and does not recognise a
resend, so every duplicate the engine sends shows up here, as it would in a
lead's inbox. Each accepted message is one line ``Message-ID<TAB>recipient
<TAB>received at (ms)`` appended to the log with a single ``write()`` before
the 250 goes out, so a message the engine was told was accepted is always in
the log.

    python tests/crash/counting_smtp.py --log PATH [--port 0]

prints ``COUNTING-SMTP <port>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)


def message_id(raw: bytes) -> str:
    headers = raw.split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID.search(headers)
    return match.group(1).decode("ascii", "replace").strip() if match else ""


class CountingHandler:
    def __init__(self, log_path: Path) -> None:
        self.fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mid = message_id(raw)
        at = time.time_ns() // 1_000_000
        os.write(self.fd, "".join(f"{mid}\t{rcpt}\t{at}\n" for rcpt in envelope.rcpt_tos).encode())
        return "250 2.0.0 Accepted"


def read_log(log_path: Path) -> list[tuple[str, str, int]]:
    """(Message-ID, recipient, received at ms) of every copy received."""
    try:
        data = log_path.read_bytes()
    except FileNotFoundError:
        return []
    rows = []
    for line in data.decode("utf-8", "replace").split("\n")[:-1]:
        mid, rcpt, at = line.split("\t")
        rows.append((mid, rcpt, int(at)))
    return rows


async def serve(log_path: Path, port: int) -> None:
    handler = CountingHandler(log_path)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="counting-smtp"), "127.0.0.1", port)
    print(f"COUNTING-SMTP {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.log, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

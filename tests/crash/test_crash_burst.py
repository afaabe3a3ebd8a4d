"""Kill -9 the engine while it pours hundreds of emails out (``burst.py``).

With the built-in sandbox nothing can go twice: the sandbox records the send
in the transaction that keeps the message, before it answers 250. With an
outside server, what remains is the moment between the server accepting a
message and the engine reading its 250 (the engine then writes it to its
journal at once): at most one message per SMTP connection can be caught
there by a kill, instead of every outcome of the last 50 ms."""

from __future__ import annotations

import random

from engine.delivery.smtp import SmtpSettings

from .burst import BurstTrial

KILLS = 3
LEADS = 400


def test_kills_mid_burst_with_the_built_in_sandbox_send_nothing_twice(crash_dir):
    r = BurstTrial(crash_dir, None, "burst-builtin", KILLS, LEADS, random.Random(7)).run()
    assert len(r.killed) == KILLS, f"killed {len(r.killed)} times: {r}"
    assert r.problems == [], "\n".join(r.problems)
    assert (r.duplicates, r.lost_sends, r.stuck_leads) == (0, 0, 0)


def test_kills_mid_burst_with_an_outside_server_resend_at_most_what_was_on_the_wire(crash_dir, sandbox):
    r = BurstTrial(crash_dir, sandbox, "burst-external", KILLS, LEADS, random.Random(8)).run()
    assert len(r.killed) == KILLS, f"killed {len(r.killed)} times: {r}"
    assert r.problems == [], "\n".join(r.problems)
    assert (r.lost_sends, r.stuck_leads) == (0, 0)
    connections = SmtpSettings.from_url(f"smtp://127.0.0.1:{sandbox.port}").max_connections
    assert r.duplicates <= KILLS * connections, f"{r.duplicates} duplicates in {KILLS} kills"

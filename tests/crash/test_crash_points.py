"""Kill -9 the engine at every crash point (several times each) and at random
moments, restart it until the campaign is complete, and compare with the
simulator: the same sends, none twice, no event lost, every wait fired once.

Two kinds of outgoing server: an outside one in its own process, which keeps
every copy (a resend would show as in an inbox), and the engine's built-in
sandbox on the campaign database. Right after the server's 250 is the one
moment SMTP leaves open; a kill there sends nothing twice all the same: the
outbox journals each 250 the instant it arrives, and the built-in sandbox
records the send in the transaction that keeps the message.

All trials run at once (they spend their time waiting), then each test reads
its own trial's verdict."""

from __future__ import annotations

import random

import pytest

from .harness import POINTS, SANDBOX_POINTS, Kill, random_kills, run_trials

NS = (1, 2, 3)
CHOSEN = [(point, n) for point in POINTS for n in NS]
RANDOM_SEEDS = (11, 23, 42)
#: With the built-in sandbox: the moments around its 250, and a kill at random.
BUILTIN = [("after_smtp_250", n) for n in NS] + [(point, n) for point in SANDBOX_POINTS for n in NS]
BUILTIN_SEEDS = (5,)


def _name(point: str, n: int, server: str = "external") -> str:
    return f"{server}-{point.replace('_', '-')}-{n}"


@pytest.fixture(scope="module")
def trials(crash_dir, sandbox):
    # One SMTP connection for the kills right after a 250: no other message is on the wire
    # then, so a resend could only come from a 250 the outbox heard and forgot.
    external = [(_name(point, n), [Kill(point, n)], {"connections": 1} if point == "after_smtp_250" else {})
                for point, n in CHOSEN]
    external += [(f"random-{seed}", random_kills(random.Random(seed), 2)) for seed in RANDOM_SEEDS]
    builtin = [(_name(point, n, "builtin"), [Kill(point, n)]) for point, n in BUILTIN]
    builtin += [(f"builtin-random-{seed}", random_kills(random.Random(seed), 2)) for seed in BUILTIN_SEEDS]
    results = run_trials(crash_dir, sandbox, external, parallel=8)
    results += run_trials(crash_dir, None, builtin, parallel=8)
    return {r.name: r for r in results}


@pytest.mark.parametrize(("point", "n"), CHOSEN, ids=[_name(p, n) for p, n in CHOSEN])
def test_kill_at_a_crash_point_loses_nothing_and_sends_nothing_twice(trials, point, n):
    r = trials[_name(point, n)]
    assert r.killed and r.killed[0][0] == f"{point}:{n}", f"the engine was not killed at {point}:{n}: {r}"
    assert r.problems == [], "\n".join(r.problems)
    assert r.duplicates == 0, f"{r.duplicates} messages reached the outside server twice"
    assert (r.lost_sends, r.lost_events, r.stuck_leads) == (0, 0, 0)


@pytest.mark.parametrize(("point", "n"), BUILTIN, ids=[_name(p, n, "builtin") for p, n in BUILTIN])
def test_with_the_built_in_sandbox_a_kill_around_its_250_sends_nothing_twice(trials, point, n):
    """Killed after the sandbox committed the message and its send (before or after the
    outbox heard the 250): after the restart the message is in the mailbox once, its
    send is sent, and the sandbox was never handed it again."""
    r = trials[_name(point, n, "builtin")]
    assert r.killed and r.killed[0][0] == f"{point}:{n}", f"the engine was not killed at {point}:{n}: {r}"
    assert r.problems == [], "\n".join(r.problems)
    assert r.duplicates == 0, f"the sandbox was sent {r.duplicates} messages again"
    assert (r.lost_sends, r.lost_events, r.stuck_leads) == (0, 0, 0)


@pytest.mark.parametrize("name", [f"random-{s}" for s in RANDOM_SEEDS] + [f"builtin-random-{s}" for s in BUILTIN_SEEDS])
def test_kills_at_random_moments_lose_nothing(trials, name):
    r = trials[name]
    assert r.killed, f"no launch was killed: {r}"
    assert r.problems == [], "\n".join(r.problems)
    assert r.duplicates_elsewhere == 0
    assert (r.lost_sends, r.lost_events, r.stuck_leads) == (0, 0, 0)


def test_the_suite_covers_at_least_twenty_kill_points(trials):
    kills = sum(len(r.killed) for r in trials.values())
    assert kills >= 20
    # Events arrived both ways: through the live tracking server, and into the
    # database while the engine was down (handled when it came back).
    assert sum(r.events_by_http for r in trials.values()) > 0
    assert sum(r.events_by_sink for r in trials.values()) > 0

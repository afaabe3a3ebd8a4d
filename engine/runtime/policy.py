"""How the outbox treats failures, the way a mail server (Postfix) does.

Three kinds of trouble, three answers:

- **The server is away** (cannot connect, 421, a 4xx greeting): an *outage*.
  Nothing is the messages' fault, so none of them spends a try. The outbox
  pauses and probes with one message: every ``outage_probe`` seconds at
  first, then every tenth of the outage so far, never more than
  ``outage_cap`` apart. The delay counts per outage (from its first failure),
  not per batch, so a 20-second outage is over for the marketer within a few
  seconds of the server coming back.
- **The server refuses us** (login required or refused, HELO or MAIL FROM
  rejected, no STARTTLS where the settings require it, a certificate that
  does not verify, a password we will not send in clear): a *session*
  refusal. Every message would fail the same way, so failing leads would be
  wrong: the outbox pauses with the reason and fails nobody, and tries
  again now and then (``session_probe`` .. ``session_cap``) so that sending
  resumes by itself once the settings or the server are fixed.
- **The server refuses this message for now** (4xx): it is retried with
  growing delays (``retry_base`` doubling, with jitter, at most
  ``retry_cap`` apart) for ``retry_horizon`` after it was queued (3 days,
  Postfix's ``maximal_queue_lifetime``), then it fails with the last reason.
  A 5xx, or a message that cannot be built for its lead, fails at once.

Every figure is a parameter, so tests (and impatient operators) can shrink time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

DAY = 86_400.0


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_base: float = 60.0
    retry_cap: float = 3600.0
    retry_horizon: float = 3 * DAY
    #: Also give up after this many tries (None: only the horizon counts).
    max_attempts: Optional[int] = None
    outage_probe: float = 2.0
    outage_cap: float = 60.0
    session_probe: float = 30.0
    session_cap: float = 600.0
    #: How many messages a probe sends while the outbox is paused.
    probe_batch: int = 1

    def probe_delay(self, cause: str, elapsed: float) -> float:
        """Seconds until the next probe, ``elapsed`` seconds into a pause of this cause."""
        if cause == "session":
            return min(self.session_cap, max(self.session_probe, elapsed / 2))
        return min(self.outage_cap, max(self.outage_probe, elapsed / 10))

    def retry_delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds before retry number ``attempt`` (1 = first retry): doubling, half of it jittered."""
        ceiling = min(self.retry_cap, self.retry_base * 2 ** min(max(attempt, 1) - 1, 62))
        return ceiling * (0.5 + rng() / 2)

    def gives_up(self, attempts: int, queued_at: int, now: int) -> bool:
        """Whether a message refused for now ``attempts`` times is past retrying."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return now >= queued_at + int(self.retry_horizon * 1000)

    def next_try(self, attempts: int, queued_at: int, now: int) -> int:
        """When to try again (ms): after the delay, but no later than the horizon (one last try there)."""
        return min(now + int(self.retry_delay(attempts) * 1000), queued_at + int(self.retry_horizon * 1000))


def describe_horizon(seconds: float) -> str:
    if seconds >= DAY:
        days = seconds / DAY
        return f"{days:g} day" + ("s" if days != 1 else "")
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"

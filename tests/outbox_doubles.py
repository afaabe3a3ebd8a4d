"""A real run's outbox with the clock and the SMTP client replaced: the test moves the time and
says what the server answers, so delivery, retries and pacing play out without a network."""

from __future__ import annotations

from engine.delivery.smtp import SENT, SendOutcome
from engine.delivery.tracking_tokens import TrackingTokens
from engine.flow.model import Flow
from engine.run.engine import CampaignEngine, LeadInput
from engine.runtime.outbox import Outbox

T0 = 1_800_000_000_000


class ManualClock:
    """A wall clock the test moves by hand (not simulated: overdue work happens now)."""

    simulated = False

    def __init__(self, start: int = T0) -> None:
        self.value = start

    def now(self) -> int:
        return self.value

    def reach(self, at: int) -> None:
        pass


class ScriptedSender:
    """Stands in for the SMTP client: answers what the test says (by default, sent) and records
    each recipient it accepted."""

    class settings:  # noqa: N801 - the attribute the outbox reads
        max_connections = 4

    def __init__(self) -> None:
        self.outcome: SendOutcome = SENT
        self.sent: list[str] = []

    async def send_raw(self, sender: str, recipients: list[str], raw: bytes) -> SendOutcome:
        if self.outcome.ok:
            self.sent.append(recipients[0])
        return self.outcome


def real_run(db, flow: Flow, leads: list[LeadInput]) -> tuple[ManualClock, CampaignEngine, ScriptedSender, Outbox]:
    """A real-delivery campaign for ``leads``, created at ``T0``, and the outbox that sends its emails."""
    clock = ManualClock(T0)
    engine = CampaignEngine.create(db, flow, clock, delivery="real")
    engine.enroll(leads)
    sender = ScriptedSender()
    outbox = Outbox(db, sender, TrackingTokens("x" * 40), lambda: "https://t.example", clock.now)
    return clock, engine, sender, outbox

"""What every batch of one campaign shares: spec, clock, ids, delivery mode."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional

from engine.run.clock import Clock
from engine.run.ids import IdAllocator
from engine.run.spec import CampaignSpec


@dataclass
class RunContext:
    campaign_id: int
    spec: CampaignSpec
    clock: Clock
    ids: IdAllocator
    #: "simulated": sends are done the moment they are made; "real": queued for SMTP.
    delivery: str = "simulated"
    domain: str = "mailbranch.local"
    checks_unsubscribes: bool = False
    #: Scale-out (PostgreSQL + procrastinate): defers the jobs that will wake
    #: workers for the waits and sends a batch wrote, in the batch's own
    #: transaction. None in the embedded, one-process engine.
    jobs: Optional[Any] = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("mailbranch.engine"))

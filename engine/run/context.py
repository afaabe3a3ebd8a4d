"""What every batch of one campaign shares: spec, clock, ids, delivery mode."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional

from engine.delivery.message_ids import node_domain
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
    #: SEMANTICS 9: whether a token walks past an email node the moment its send
    #: is made (a simulation without a send rate, or a simulation on the app's
    #: campaign clock) or stands there until the send is settled.
    instant_delivery: bool = True
    #: A simulation's send rate as ms between deliveries (``simulate --send-rate``).
    send_interval_ms: Optional[float] = None
    #: The last delivery slot handed out at that rate (None: read it from the database).
    last_slot: Optional[float] = None
    #: Scale-out (PostgreSQL + procrastinate): defers the jobs that will wake
    #: workers for the waits and sends a batch wrote, in the batch's own
    #: transaction. None in the embedded, one-process engine.
    jobs: Optional[Any] = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("mailbranch.engine"))
    #: The campaign's world-unique id (``Campaign.uid``): Message-IDs and
    #: tracking tokens carry it, never the integer id (SEMANTICS 12).
    campaign_uid: str = ""
    _domains: dict[str, str] = field(default_factory=dict, repr=False)

    def message_domain(self, node: str) -> str:
        """The Message-ID domain of an email node's sends: its sender's domain
        (the node's ``sender``, the flow's ``sender``, or the default sender)."""
        domain = self._domains.get(node)
        if domain is None:
            spec_node = self.spec.nodes.get(node)
            domain = self._domains[node] = node_domain(self.spec.flow, spec_node)
        return domain

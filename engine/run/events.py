"""What events do in a batch (SEMANTICS 5, 8, 9, 10, 12).

An open or click is recorded on its send, apart for machines, and triggers
every condition listening for it; a click on the goal converts the lead
instead. What became of a send (delivered, skipped, failed) moves or fails
the token standing on its email node; an unsubscribe finishes every token of
the lead; a conversion finishes them too and cancels what is still unsent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.flow.campaign import normal_url
from engine.run.state import EventState, SendState

if TYPE_CHECKING:
    from engine.run.batch import Batch

#: Events about a send's fate rather than the lead's behaviour.
DELIVERY_EVENTS = frozenset({"send_failed", "unsubscribe", "delivered", "send_skipped"})


def handle_event(batch: Batch, event: EventState) -> None:
    """SEMANTICS 5: record on its send, trigger every matching listener once."""
    batch.events.append(event)
    event.handled_at = batch.now
    if event.type in DELIVERY_EVENTS:
        handle_delivery_event(batch, event)
        return
    if event.type == "convert":
        convert(batch, event)
        return
    send = None
    if event.lead_id is not None:
        if event.send_id is not None:
            send = batch.sends.get(event.send_id)
        elif event.node is not None:
            send = batch.send_index.get((event.lead_id, event.node))
            if send is not None and (send.at > event.at or batch.awaits_delivery(send)):
                send = None  # the email had not been delivered yet when the event happened
    if send is None or send.lead_id != event.lead_id:
        event.state = "orphan"
        return
    event.send_id = send.id
    event.state = "handled"
    batch.stats[("machine:" if event.machine else "event:") + event.type] += 1
    if batch.log_ops:
        batch.ops.append(("event", {"type": event.type, "lead": event.lead_id, "send": send.id,
                                   "node": send.node, "machine": event.machine}))
    record_on_send(send, event)
    if (not event.machine and event.type == "click" and batch.spec.goal is not None and event.url
            and normal_url(event.url) == batch.spec.goal):
        convert(batch, event)  # the lead has converted: it finishes, nothing triggers
        return
    spec, descriptors = batch.spec.compiled, batch.spec.descriptors
    for listener in list(batch.listeners_by_send.get(send.id, ())):
        if (listener.state == "listening" and event.at < listener.until
                and descriptors[listener.condition].hears(spec[listener.condition], event)):
            descriptors[listener.condition].trigger(batch, listener, event)

def handle_delivery_event(batch: Batch, event: EventState) -> None:
    """A send that failed for good fails its token (SEMANTICS 8); an
    unsubscribe finishes every token of the lead and stops its emails."""
    event.state = "handled"
    if event.type in ("delivered", "send_skipped"):
        send = batch.sends.get(event.send_id) if event.send_id is not None else None
        if send is not None and batch.awaits_delivery(send):
            token = batch.tokens[send.token_id]
            # Everything after the email counts from the instant it was settled,
            # not from when this pass happens to play it (SEMANTICS 9).
            batch.now = event.at
            # The email node's own step: it records the delivered instant (or, for a
            # send not made after all, only moves on) before the token walks on.
            batch.spec.resume[send.node](batch, token)
            event.triggered.append(send.node)
            batch.walk(token)
        return
    if event.type == "send_failed":
        send = batch.sends.get(event.send_id) if event.send_id is not None else None
        token = batch.tokens.get(send.token_id) if send is not None else None
        if token is not None and token.state == "waiting":
            batch.fail(token, f"the email {send.node} could not be delivered")
            event.triggered.append(token.node)
        elif token is not None and token.state == "finished":
            token.state, token.dirty = "failed", True  # it reached an end in this batch
            event.triggered.append(token.node)
        elif send is not None and token is None:
            # The token reached an end while its email was still in the outbox
            # (an email just before an end): it did not get there whole.
            batch.ended_then_failed.append((send.token_id,))
        return
    if event.lead_id is None:
        event.state = "orphan"
        return
    batch.unsubscribed.add(event.lead_id)
    for token in batch.tokens_of(event.lead_id):
        if token.state == "waiting":
            batch.revoke_pending(token)
            token.dirty = True
            batch.finish(token)
            event.triggered.append(token.node)



def convert(batch: Batch, event: EventState) -> None:
    """The lead reached the campaign's goal (SEMANTICS 10): every token of it
    finishes at once, wherever it stands, and nothing more is sent to it.
    Recorded once: a lead converted before has no token left to finish, and
    its ``converted_at`` keeps the first instant."""
    event.state = "handled" if event.lead_id is not None else "orphan"
    if event.lead_id is None:
        return
    lead_id = event.lead_id
    batch.stats["conversions"] += 1
    batch.conversions.append((event.at, lead_id))
    batch.cancelled_leads.append((lead_id,))
    for send in batch.sends_of_lead(lead_id):
        if send.lead_id == lead_id and send.new and send.status in ("queued", "planned"):
            send.status = "cancelled"
    for token in list(batch.tokens_of(lead_id)):
        if token.lead_id == lead_id and token.state in ("waiting", "active"):
            batch.revoke_pending(token)
            token.dirty = True
            batch.finish(token)
            event.triggered.append(token.node)
    if batch.log_ops:
        batch.ops.append(("convert", {"lead": lead_id, "tokens": len(event.triggered)}))


#: Where a send keeps what the lead did, and apart from it what machines did.
_HUMAN = ("opened_at", "clicked_at", "clicked_urls")
_MACHINE = ("machine_opened_at", "machine_clicked_at", "machine_clicked_urls")


def record_on_send(send: SendState, event: EventState) -> None:
    """An open or click, on its send: the lead's click counts as an open too
    (SEMANTICS 3); a machine's is kept apart and is never an open (SEMANTICS 5)."""
    opened, clicked, urls = _MACHINE if event.machine else _HUMAN
    if (event.type == "open" or not event.machine) and getattr(send, opened) is None:
        setattr(send, opened, event.at)
        send.dirty = True
    if event.type != "click":
        return
    if getattr(send, clicked) is None:
        setattr(send, clicked, event.at)
        send.dirty = True
    if event.url and event.url not in getattr(send, urls):
        setattr(send, urls, (*getattr(send, urls), event.url))
        send.dirty = True

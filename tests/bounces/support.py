"""A real campaign with real send rows, and the sample reports with a genuine VERP token in them."""

from __future__ import annotations

from pathlib import Path

from engine.delivery.tracking_tokens import TrackingTokens
from engine.flow.fileformat import flow_from_data
from engine.run.clock import SystemClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.runtime.settled import settle_events
from engine.store.bulk import execute_many, fetch_all

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "bounces"
TOKENS = TrackingTokens("bounce-test-secret-" + "x" * 40)

def two_emails(name: str, wait: str, sender: dict, **more) -> dict:
    """The flow file start -> e1 -> w1 (``wait``) -> e2 -> end, sent as ``sender``; ``more``: other keys."""
    return {
        "format": "mailbranch.flow/1", "name": name, "sender": sender, **more,
        "nodes": [{"id": "start", "type": "start"},
                  {"id": "e1", "type": "email", "subject": "One", "html": "<p>One</p>"},
                  {"id": "w1", "type": "wait", "duration": wait},
                  {"id": "e2", "type": "email", "subject": "Two", "html": "<p>Two</p>"},
                  {"id": "end", "type": "end"}],
        "edges": [{"from": "start", "to": "e1"}, {"from": "e1", "to": "w1"}, {"from": "w1", "to": "e2"},
                  {"from": "e2", "to": "end"}],
    }


FLOW = two_emails("Bounces", "1d", {"address": "news@shop.example", "return_path_domain": "bounces.shop.example"})


def start(db, *addresses: str) -> CampaignEngine:
    engine = CampaignEngine.create(db, flow_from_data(FLOW), SystemClock(), delivery="real")
    engine.enroll([LeadInput(a, a, {}) for a in addresses])
    engine.process_until()
    return engine


def send_of(db, address: str, node: str = "e1") -> dict:
    with db.session() as s:
        row = fetch_all(s, "SELECT s.id, s.status, s.message_id, c.uid, s.bounced_at, s.soft_bounces,"
                           " s.complained_at, s.error, t.state, t.node FROM sends s JOIN leads l ON l.id = s.lead_id"
                           " JOIN campaigns c ON c.id = s.campaign_id JOIN tokens t ON t.id = s.token_id"
                           " WHERE l.email = ? AND s.node = ?", (address, node))[0]
    keys = ("id", "status", "message_id", "uid", "bounced_at", "soft_bounces", "complained_at", "error",
            "token_state", "token_node")
    return dict(zip(keys, row, strict=True))


def deliver(db, address: str, at: int) -> None:
    """What the outbox does on a 250: the send is sent, and a delivered event waits for the engine."""
    send = send_of(db, address)
    with db.session() as s:
        settle_events(s, "delivered", [(at, send["id"])], unsettled=("queued",))
        execute_many(s, "UPDATE sends SET status = 'sent', sent_at = ? WHERE id = ?", [(at, send["id"])])


def sample(name: str, db=None, address: str = "", token: str = "", message_id: str = "") -> bytes:
    """A sample report, with the VERP token (and Message-ID) of ``address``'s e1 send in it."""
    if db is not None and address:
        send = send_of(db, address)
        token = token or TOKENS.verp.make(send["uid"], send["id"])
        message_id = message_id or send["message_id"]
    text = (SAMPLES / name).read_text(encoding="utf-8")
    text = text.replace("TOKEN", token or "nothing").replace("MESSAGE-ID", message_id or "<none@none>")
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")

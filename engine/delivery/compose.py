"""One email node of one campaign, ready to become a lead's message: identity, headers, DKIM.

The outbox keeps one ``Outgoing`` per email node (built once, from the
campaign's flow) and calls ``build`` per send, so everything that is the same
for every lead (the parsed sender, List-Id, Feedback-ID, the DKIM key) is
worked out once. ``test_send.py`` builds the same way, so a test email is the
campaign's email.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

from engine.delivery.dkim_signing import DkimSigner
from engine.delivery.identity import DEFAULT_IDENTITY, SenderError, SenderIdentity, email_identity
from engine.delivery.message_ids import feedback_id, list_id
from engine.delivery.render import EmailContent, email_content, render_raw
from engine.delivery.smtp import MessageProblem
from engine.delivery.tracked_links import TrackingUrls
from engine.delivery.tracking_tokens import TrackingTokens
from engine.delivery.verp import unsubscribe_mailto


@dataclass(frozen=True)
class Outgoing:
    content: EmailContent
    identity: SenderIdentity
    campaign_name: str = ""
    node: str = ""
    #: Why this node's sender cannot be used (validation stops such a flow; kept for old campaigns).
    problem: Optional[str] = None

    @classmethod
    def for_node(cls, flow: Any, node: Any) -> Outgoing:
        try:
            identity, problem = email_identity(flow, node), None
        except SenderError as exc:
            identity, problem = DEFAULT_IDENTITY, str(exc)
        return cls(email_content(node, flow), identity, flow.name if flow is not None else "", node.id, problem)

    def headers(self, campaign_uid: str) -> dict[str, Optional[str]]:
        """The identity headers every lead's copy shares (worked out once per campaign)."""
        return _shared_headers(self.identity, self.campaign_name, campaign_uid, self.node)

    def build(self, fields: Mapping[str, Any], *, to: str, urls: TrackingUrls, message_id: str,
              tokens: TrackingTokens, send_id: int, signer: Optional[DkimSigner] = None,
              sender: Optional[str] = None) -> tuple[str, bytes]:
        """``(envelope sender, message bytes)`` for one lead; a template error raises ``MessageProblem``.

        With a sender domain of the marketer's own, the envelope is the VERP
        ``bounce+TOKEN@`` address and List-Unsubscribe carries the matching
        ``mailto:``; the built-in ``mailbranch.local`` sender keeps both plain."""
        if self.problem:
            raise MessageProblem(self.problem)
        identity = self.identity
        token = _verp_token(tokens, urls.campaign_uid, send_id) if identity.configured else None
        mailto = unsubscribe_mailto(token, identity.bounce_domain) if token else None
        raw, errors = render_raw(self.content, fields, email=to, sender=sender or identity.from_header(), urls=urls,
                                 message_id=message_id, unsubscribe_mailto=mailto, **self.headers(urls.campaign_uid))
        if errors:  # SEMANTICS 9: a template that fails on this lead's fields fails this send
            raise MessageProblem("the template cannot be filled in for this lead: " + "; ".join(errors))
        if signer is not None:
            raw = signer.sign(raw, identity.domain)
        return identity.envelope_from(token), raw


@lru_cache(maxsize=1024)
def _shared_headers(identity: SenderIdentity, campaign_name: str, campaign_uid: str, node: str
                    ) -> dict[str, Optional[str]]:
    domain = identity.domain
    return {"reply_to": identity.reply_to_header(), "list_id": list_id(campaign_name, campaign_uid, domain),
            "feedback_id": feedback_id(campaign_uid, node, domain)}


def _verp_token(tokens: TrackingTokens, campaign_uid: str, send_id: int) -> Optional[str]:
    """The send's VERP token; None for a campaign uid too long for one (not one the engine
    makes): that message goes with the plain envelope rather than not at all."""
    try:
        return tokens.verp.make(campaign_uid, send_id)
    except ValueError:
        return None

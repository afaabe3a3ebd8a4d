"""Message-IDs and the sender's domain: who a message is from, as the engine needs it.

The engine makes every send's Message-ID when it makes the send (before any
rendering), so this lives apart from the renderer and its Jinja2 and MIME
machinery: the batch imports ids, not templates.
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from functools import lru_cache
from typing import Optional

from engine.delivery.tracking_tokens import Id

DEFAULT_SENDER = "Mailbranch <campaigns@mailbranch.local>"
DEFAULT_DOMAIN = "mailbranch.local"

_MSGID_SAFE = re.compile(r"[A-Za-z0-9_-]")
_MSGID_PLAIN = re.compile(r"[A-Za-z0-9_-]*")
_DOMAIN_SAFE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


def _msgid_part(value: Id) -> str:
    if type(value) is int:  # a token id: digits (and a minus sign), always safe
        return str(value)
    return _escaped(str(value))


@lru_cache(maxsize=4096)
def _escaped(text: str) -> str:
    """Node names and campaign uids recur for every send: escaped once each."""
    if _MSGID_PLAIN.fullmatch(text):  # they almost always are plain: one regex call
        return text
    return "".join(ch if _MSGID_SAFE.match(ch) else "".join(f"={b:02X}" for b in ch.encode()) for ch in text)


def sender_domain(sender: Optional[str]) -> str:
    """The domain of a From address, as a Message-ID's right-hand side: lower-case
    ASCII (an internationalised domain in its IDNA form), or the default
    sender's domain when the address has none usable."""
    address = parseaddr(sender or "")[1] or (sender or "")
    domain = address.rpartition("@")[2].strip().rstrip(".").lower() if "@" in address else ""
    if domain and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            domain = ""
    if not domain or not _DOMAIN_SAFE.fullmatch(domain):
        return DEFAULT_DOMAIN
    return domain


def message_id(campaign_uid: Id, token_id: Id, node_id: Id, domain: str = DEFAULT_DOMAIN) -> str:
    """The Message-ID of the send of ``node_id`` for ``token_id``: the same every time.

    ``<t{token}.{node}.{campaign uid}@{sender's domain}>``. A resend after a
    crash in the middle of SMTP carries the same id, so the receiving side
    (and the sandbox mailbox) can recognise the duplicate; the campaign's
    world-unique uid keeps two campaigns (or two databases) from ever giving
    two messages one id. Characters outside ``[A-Za-z0-9_-]`` are escaped as
    ``=XX`` so that different ids never give the same Message-ID.
    """
    return f"<t{_msgid_part(token_id)}.{_msgid_part(node_id)}.{_msgid_part(campaign_uid)}@{domain}>"


def list_id(campaign_name: str, campaign_uid: Id, domain: str) -> str:
    """The List-Id (RFC 2919) of a campaign: its name, and ``<uid.domain>`` that stays the
    same for every email of the campaign, so filters and complaint reports can name it."""
    from email.header import Header
    from email.utils import quote

    label = f"{_msgid_part(campaign_uid).replace('=', '-')}.{domain}"
    name = " ".join(str(campaign_name or "").split())[:120]
    if not name:
        return f"<{label}>"
    phrase = f'"{quote(name)}"' if name.isascii() else Header(name, "utf-8").encode()
    return f"{phrase} <{label}>"


def feedback_id(campaign_uid: Id, node_id: Id, domain: str) -> str:
    """Gmail's Feedback-ID, ``campaign:email:sender``: its Postmaster Tools count complaints
    per campaign and email node, under the sender's domain."""
    return f"{_msgid_part(campaign_uid)}:{_msgid_part(node_id)}:{domain}"


def node_domain(flow: object, node: object) -> str:
    """The Message-ID domain of an email node's sends: the domain of the sender it sends
    with (the node's ``sender``, else the flow's ``sender``, else the default)."""
    from engine.delivery.identity import SenderError, email_identity

    try:
        return email_identity(flow, node).domain
    except SenderError:
        return DEFAULT_DOMAIN

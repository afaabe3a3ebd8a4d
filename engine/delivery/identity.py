"""Who a campaign's emails are from: the From name and address, Reply-To and the Return-Path domain.

Inboxes judge mail by its sender first: Gmail and Yahoo refuse bulk mail
whose From domain is not the marketer's own, and a bounce must reach a
mailbox the engine reads. So the sender is set once per campaign, in the
flow file's top-level ``sender`` object (the app's Settings give defaults
for flows without one), and an email node's ``sender`` text may override the
From for that email::

    "sender": {"name": "Shop, Inc.", "address": "news@shop.example",
               "reply_to": "help@shop.example", "return_path_domain": "bounces.shop.example"}

Addresses are checked with email-validator (no DNS), so an internationalised
domain is kept in both forms: the Unicode one a person reads and the IDNA
one (``xn--…``) every server takes, used in headers, the envelope, the
Message-ID and the DKIM ``d=``. A sender typed as ``Shop, Inc.
<news@shop.example>`` (a comma, no quotes) is read as the marketer meant it:
everything before the ``<…>`` is the name. Display names are encoded by the
MIME writer (RFC 2047 for non-ASCII, quoted for commas).

Without any sender the engine sends from ``campaigns@mailbranch.local``:
fine for the sandbox, refused for a real server (``real_run_problem``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

from email_validator import EmailNotValidError, validate_email

from engine.delivery.message_ids import DEFAULT_SENDER
from engine.nodes.registry import node_type

_NAMED = re.compile(r"\s*(.*?)\s*<\s*([^<>\s]*)\s*>\s*", re.DOTALL)
_FLOW_KEYS = ("name", "address", "reply_to", "return_path_domain")
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")


class SenderError(ValueError):
    """A sender setting that cannot be used; ``str(error)`` is one sentence a marketer can act on."""


@dataclass(frozen=True)
class Mailbox:
    """One checked address with its display name."""

    name: str
    #: As written by email-validator (Unicode domain, lower-case domain).
    address: str
    #: The address every server takes: the domain in IDNA; None when the local part is not ASCII.
    ascii_address: Optional[str]
    #: The ASCII (IDNA) form of the domain, as DNS, DKIM and Message-IDs name it.
    domain: str = ""

    def header(self) -> str:
        """The From (or Reply-To) value: the name quoted where it has a comma or other
        specials, RFC 2047 where it is not ASCII; the address in its ASCII form when it has one."""
        from email.utils import formataddr

        address = self.ascii_address or self.address
        return formataddr((self.name, address), charset="utf-8") if self.name else address


def check_address(address: str, what: str = "The sender address") -> tuple[str, Optional[str], str]:
    """(address as written, ASCII form or None, ASCII domain), or ``SenderError`` with the reason."""
    try:
        checked = validate_email(address.strip(), check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise SenderError(f"{what} “{address.strip()}” is not a usable email address: {exc}") from None
    local = checked.local_part
    ascii_address = f"{local}@{checked.ascii_domain}" if local.isascii() else None
    return checked.normalized, ascii_address, checked.ascii_domain.lower()


def parse_mailbox(text: str, what: str = "The sender") -> Mailbox:
    """``Name <address>``, ``"Name" <address>`` or a bare address, checked."""
    if not isinstance(text, str) or not text.strip():
        raise SenderError(f"{what} is empty; write an address such as news@your-shop.com.")
    if any(ch in text for ch in "\r\n"):
        raise SenderError(f"{what} holds a line break; write it on one line.")
    match = _NAMED.fullmatch(text)
    if match:
        name, address = match.group(1), match.group(2)
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    else:
        name, address = "", text.strip()
    name = " ".join(name.split())
    if len(name) > 200:
        raise SenderError(f"{what}'s name has {len(name)} characters; keep it under 200.")
    written, ascii_address, domain = check_address(address, f"{what}'s address")
    return Mailbox(name, written, ascii_address, domain)


def check_domain(domain: str, what: str = "The Return-Path domain") -> str:
    """A domain name, lower-case ASCII (IDNA for an internationalised one)."""
    text = domain.strip().rstrip(".").lower()
    try:
        ascii_domain = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        ascii_domain = ""
    if not _DOMAIN.fullmatch(ascii_domain):
        raise SenderError(f"{what} “{domain.strip()}” is not a domain name such as bounces.your-shop.com.")
    return ascii_domain


@dataclass(frozen=True)
class SenderIdentity:
    """Everything about who one email is from."""

    sender: Mailbox
    reply_to: Optional[Mailbox] = None
    #: The envelope's domain (bounces go there): the From domain unless set.
    return_path_domain: Optional[str] = None

    @property
    def domain(self) -> str:
        """The From domain, ASCII: the Message-ID's right-hand side and the DKIM ``d=``."""
        return self.sender.domain

    @property
    def bounce_domain(self) -> str:
        return self.return_path_domain or self.domain

    @property
    def configured(self) -> bool:
        """False for the built-in default sender (a ``.local`` address no inbox accepts)."""
        return self.domain != "mailbranch.local"

    def from_header(self) -> str:
        return self.sender.header()

    def reply_to_header(self) -> Optional[str]:
        return self.reply_to.header() if self.reply_to else None

    def envelope_from(self, token: Optional[str] = None) -> str:
        """MAIL FROM: ``bounce+TOKEN@return-path domain`` (VERP, ``verp.py``) when a token is
        given, else the From address (ASCII when it can be)."""
        if token is not None and self.configured:
            from engine.delivery.verp import bounce_address

            return bounce_address(token, self.bounce_domain)
        if self.return_path_domain and self.sender.ascii_address:
            local = self.sender.ascii_address.rpartition("@")[0]
            return f"{local}@{self.return_path_domain}"
        return self.sender.ascii_address or self.sender.address


#: The built-in sender: the sandbox needs no set-up.
DEFAULT_IDENTITY = SenderIdentity(Mailbox("Mailbranch", "campaigns@mailbranch.local", "campaigns@mailbranch.local",
                                          "mailbranch.local"))


def _flow_sender(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):  # a flow may give the sender as one text
        return {"address": value}
    if not isinstance(value, dict):
        raise SenderError("The campaign's sender must be an object with name, address, reply_to and "
                          "return_path_domain.")
    return {k: v for k, v in value.items() if k in _FLOW_KEYS and isinstance(v, str) and v.strip()}


def identity_from(flow_sender: Any, node_sender: Optional[str] = None) -> SenderIdentity:
    """The identity of one email: the flow's ``sender`` object, the node's ``sender`` text over its From.

    Raises ``SenderError`` with one sentence for anything malformed; no sender at
    all gives ``DEFAULT_IDENTITY``."""
    settings = _flow_sender(flow_sender)
    if node_sender and node_sender.strip():
        mailbox = parse_mailbox(node_sender, "The email's sender")
    elif "address" in settings:
        mailbox = parse_mailbox(settings["address"], "The campaign's sender")
        if "name" in settings and not mailbox.name:
            name = " ".join(settings["name"].split())
            mailbox = Mailbox(name[:200], mailbox.address, mailbox.ascii_address, mailbox.domain)
    elif settings.get("reply_to") or settings.get("return_path_domain") or settings.get("name"):
        raise SenderError("The campaign's sender has no address; write the address emails come from, such as "
                          "news@your-shop.com.")
    else:
        return DEFAULT_IDENTITY
    reply_to = parse_mailbox(settings["reply_to"], "The Reply-To") if settings.get("reply_to") else None
    return_path = settings.get("return_path_domain")
    domain = check_domain(return_path) if return_path else None
    return SenderIdentity(mailbox, reply_to, domain if domain != mailbox.domain else None)


@lru_cache(maxsize=256)
def _cached(flow_sender_key: tuple, node_sender: Optional[str]) -> SenderIdentity:
    return identity_from(dict(flow_sender_key), node_sender)


def email_identity(flow: Any, node: Any) -> SenderIdentity:
    """The identity an email node of ``flow`` sends with (cached; malformed settings raise ``SenderError``)."""
    raw = flow.extra.get("sender") if flow is not None else None
    if isinstance(raw, str):
        raw = {"address": raw}
    key = tuple(sorted((k, v) for k, v in raw.items() if isinstance(v, str))) if isinstance(raw, dict) else ()
    if raw is not None and not isinstance(raw, (dict, str)):
        identity_from(raw)  # raises with the sentence
    return _cached(key, node.get("sender") if node is not None else None)


def sender_problems(flow: Any) -> list[tuple[Optional[str], str]]:
    """``(node id or None, sentence)`` for every malformed sender setting of the flow (validation)."""
    problems: list[tuple[Optional[str], str]] = []
    try:
        identity_from(flow.extra.get("sender"))
    except SenderError as exc:
        problems.append((None, str(exc)))
    for node in flow.nodes:
        if node_type(node.type).sends and isinstance(node.get("sender"), str) and node.get("sender").strip():
            try:
                parse_mailbox(node.get("sender"), "The email's sender")
            except SenderError as exc:
                problems.append((node.id, str(exc)))
    return problems


def flow_identities(flow: Any) -> list[SenderIdentity]:
    """Every distinct identity the flow's emails send with (malformed ones left out)."""
    seen: dict[SenderIdentity, None] = {}
    for node in flow.nodes:
        if node_type(node.type).sends:
            try:
                seen.setdefault(email_identity(flow, node))
            except SenderError:
                continue
    return list(seen)


def real_run_problem(flow: Any, public_url: Optional[str]) -> Optional[str]:
    """Why a run against a real server must not start (one sentence), or None.

    Real inboxes refuse mail from ``mailbranch.local`` and Gmail/Yahoo require
    a working one-click unsubscribe, which needs an https address leads reach."""
    if sender_problems(flow):
        return sender_problems(flow)[0][1]
    if any(not identity.configured for identity in flow_identities(flow)) or not flow_identities(flow):
        return ("the campaign has no sender domain: set the sender (name and address at your own domain) in "
                "Settings > Sender or the flow's \"sender\", then run again")
    if not public_url or not public_url.strip().lower().startswith("https://"):
        return ("a real server needs an https public URL for links, the open pixel and one-click unsubscribe: "
                "give the https address leads reach the tracking server at (--public-url, or Public URL in "
                "Settings)")
    return None


def with_default_sender(flow_json: dict, default: Optional[dict]) -> dict:
    """The flow file with the app's default sender filled in where the flow has none (a copy)."""
    if not default or flow_json.get("sender"):
        return flow_json
    return {**flow_json, "sender": {k: v for k, v in default.items() if k in _FLOW_KEYS and v}}


__all__ = ["DEFAULT_IDENTITY", "DEFAULT_SENDER", "Mailbox", "SenderError", "SenderIdentity", "check_address",
           "check_domain", "email_identity", "flow_identities", "identity_from", "parse_mailbox",
           "real_run_problem", "sender_problems", "with_default_sender"]


def sender_findings(flow: Any, finding: Any, severity: str) -> list[Any]:
    """Validation's ``bad-setting`` findings for malformed sender settings (``finding`` is
    ``validate.Finding``, passed in so that the flow package does not import delivery at load)."""
    return [finding("bad-setting", severity, message, node, None, (node,) if node else ())
            for node, message in sender_problems(flow)]


def missing_sender_findings(flow: Any, finding: Any, severity: str) -> list[Any]:
    """``validate --real``: a campaign with no sender of its own (``mailbranch.local``) is a
    ``bad-setting`` error for a real run; the sandbox needs none, so plain validation is silent."""
    if sender_problems(flow):
        return []  # already reported as malformed
    nodes = tuple(n.id for n in flow.nodes if n.type == "email")
    if not any(not i.configured for i in flow_identities(flow)) and flow_identities(flow):
        return []
    return [finding("bad-setting", severity, "The campaign has no sender: its emails would come from "
                    "campaigns@mailbranch.local, which no inbox accepts. Set the sender (an address at your own "
                    "domain) in the flow's \"sender\" or Settings > Sender.", None, None, nodes)]

"""Rendering one email node for one lead into a message ready to send.

Templates go through the project's sandboxed Jinja2 environment (the one the
validator parses with), in a lenient mode: a field the lead does not have
renders empty, ``{{ first_name | default("there") }}`` works for missing and
blank fields alike, and an error at render time (``{{ 1/0 }}``, a blocked
attribute) falls back to the template's plain text and is recorded instead
of stopping the run. The HTML body escapes lead values; subject and text
do not need to.

What is sent is designed (``engine/delivery/layout.py``): the body, written
in HTML or Markdown, goes into a one-column layout in the campaign's theme
with its CSS inlined, and the text part keeps the theme's footer and postal
address. ``render_content`` fills only the body, as written; the inspector's
preview (``preview_email``) and every send (``render_raw``) go through the
same ``render_designed``.

Two things do stop one send, with a ``RenderError`` whose message is the
reason a marketer reads: a template that runs into the sandbox's size limits
(``engine/flow/templates.py``), and an email larger than ``MAX_EMAIL_CHARS``
or holding text that is not valid Unicode once filled in. The outbox fails
that send and goes on with the others.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from functools import lru_cache
from typing import Any, Optional

from jinja2 import ChainableUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from engine.delivery.html_text import html_to_text
from engine.delivery.layout import Design, Theme, design, preview_unsubscribe
from engine.delivery.message_ids import DEFAULT_DOMAIN, DEFAULT_SENDER, message_id, sender_domain  # noqa: F401
from engine.delivery.smtp import MessageProblem
from engine.delivery.tracked_links import TrackingUrls, add_footer, add_text_footer, rewrite_links
from engine.delivery.tracking_tokens import Id
from engine.flow.body import DEFAULT_FORMAT, FORMATS, body_format, markdown_to_html
from engine.flow.template_limits import MAX_CHARS, MAX_SUBJECT_CHARS, TemplateLimitError
from engine.flow.templates import ENVIRONMENT
from engine.flow.text import bad_character

#: Same sandbox and settings as validation, but missing fields render empty.
TEXT_ENVIRONMENT: SandboxedEnvironment = ENVIRONMENT.overlay(undefined=ChainableUndefined)
#: For the HTML body: lead values such as "Tom & Jerry" are escaped.
HTML_ENVIRONMENT: SandboxedEnvironment = ENVIRONMENT.overlay(undefined=ChainableUndefined, autoescape=True)

_TEMPLATE_SYNTAX = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
#: Who a campaign's emails are from when its email node names no sender.


class _CachedHeaderRegistry(HeaderRegistry):
    """The stdlib registry builds a new header class on every lookup, which
    dominated the cost of building a message; the classes never change."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


#: policy.default, with header classes cached.
MESSAGE_POLICY = policy.default.clone(header_factory=_CachedHeaderRegistry())


@dataclass(frozen=True)
class EmailContent:
    """What an email node says, as templates."""

    subject: str
    #: The body: HTML, or Markdown when ``format`` says so.
    html: str
    text: Optional[str] = None
    #: ``"html"`` or ``"markdown"`` (the email node's ``format``).
    format: str = DEFAULT_FORMAT
    #: The campaign's theme (the flow's ``theme``); None: the default look.
    theme: Optional[Theme] = None


#: How a campaign without a ``theme`` looks.
DEFAULT_THEME = Theme()


def email_content(node: Any, flow: Any = None) -> EmailContent:
    """What an email node of ``flow`` says, with the flow's theme: the one way sends and previews read it."""
    theme = Theme.from_flow(flow.extra.get("theme")) if flow is not None else DEFAULT_THEME
    return EmailContent(node.get("subject") or "", node.get("html") or "", node.get("text"),
                        body_format(node), theme)


@dataclass
class Rendered:
    """The filled-in parts and any template errors met on the way."""

    subject: str
    html: str
    text: str
    errors: list[str] = field(default_factory=list)


@dataclass
class RenderedEmail:
    message: EmailMessage
    errors: list[str]
    #: The http(s) links sent through the tracker, as the lead's email shows them.
    tracked_links: tuple[str, ...]


@lru_cache(maxsize=4096)
def _compile(source: str, html: bool) -> Template:
    return (HTML_ENVIRONMENT if html else TEXT_ENVIRONMENT).from_string(source)


def template_context(fields: Mapping[str, Any], email: str) -> dict[str, Any]:
    """The names a template sees: the lead's fields and ``email``.

    Blank values are left out so that ``default(...)`` applies to them, as a
    marketer expects for an empty cell.
    """
    context = {k: v for k, v in fields.items() if v is not None and v != ""}
    context["email"] = email
    return context


#: The most characters one email may hold once filled in, subject, HTML and
#: text together, with tracking (about 2 MB; providers refuse far less).
MAX_EMAIL_CHARS = MAX_CHARS


class RenderError(MessageProblem):
    """This lead's email cannot be built; ``str(error)`` is the reason, one sentence.

    A ``MessageProblem``, so the outbox fails that one send with this reason."""


class MessageTooLargeError(RenderError):
    """The filled-in email is larger than ``MAX_EMAIL_CHARS``."""


def _check_message(rendered: Rendered) -> None:
    """Refuse an email that is too large or holds text no email can carry."""
    size = len(rendered.subject) + len(rendered.html) + len(rendered.text)
    if size > MAX_EMAIL_CHARS:
        raise MessageTooLargeError(f"the email is {size:,} characters once filled in; one email may hold at "
                                   f"most {MAX_EMAIL_CHARS:,}")
    if len(rendered.subject) > MAX_SUBJECT_CHARS:
        raise MessageTooLargeError(f"the subject is {len(rendered.subject):,} characters once filled in; a "
                                   f"subject may hold at most {MAX_SUBJECT_CHARS}")
    for part, value in (("subject", rendered.subject), ("HTML body", rendered.html), ("text body", rendered.text)):
        position = bad_character(value)
        if position is not None:
            raise RenderError(f"the {part} holds an invalid character (\\u{ord(value[position]):04x}, half of a "
                              "UTF-16 pair) once filled in; check this lead's fields")


def fill(source: str, context: Mapping[str, Any], *, html: bool = False, part: str = "template") -> tuple[str, Optional[str]]:
    """The rendered template, and an error sentence if it could not render.

    On error the fallback is the template's own text with its tags removed:
    the lead gets the fixed wording rather than nothing or a crash.
    """
    try:
        return _compile(source, html).render(context), None
    except TemplateLimitError as exc:
        raise RenderError(f"the {part} template cannot be filled in: {exc}") from None
    except TemplateError as exc:
        error = f"{part}: {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - arithmetic and type errors inside {{ }}
        error = f"{part}: {type(exc).__name__}: {exc}"
    return _TEMPLATE_SYNTAX.sub("", source), error


def render_content(content: EmailContent, fields: Mapping[str, Any], email: str) -> Rendered:
    """Fill subject, body and text for one lead, the body as written (Markdown
    turned into HTML) without the layout; derive the text when none is given."""
    body = markdown_to_html(content.html) if content.format == "markdown" else content.html
    return _fill_parts(content, body, template_context(fields, email))


def render_designed(content: EmailContent, fields: Mapping[str, Any], email: str) -> tuple[Rendered, Design]:
    """Fill subject, body and text for one lead; the body is the designed body
    (styles inlined), to be joined with the returned ``Design``'s parts. The
    text part ends with the theme's footer and postal address."""
    theme = content.theme or DEFAULT_THEME
    chosen = design(content.html, content.format if content.format in FORMATS else DEFAULT_FORMAT, theme)
    rendered = _fill_parts(content, chosen.body, template_context(fields, email))
    footer = theme.footer_text()
    if footer and not chosen.whole_document:
        rendered.text = f"{rendered.text.rstrip()}\n\n{footer}"
    return rendered, chosen


def preview_email(content: EmailContent, fields: Mapping[str, Any], email: str) -> Rendered:
    """The email exactly as a send builds it for this lead, less tracking: for the
    inspector's preview, so a template that sends fine previews fine."""
    rendered, chosen = render_designed(content, fields, email)
    if chosen.whole_document:
        rendered.html = rendered.html + preview_unsubscribe()
    else:
        rendered.html = chosen.head + rendered.html + chosen.footer + preview_unsubscribe() + chosen.tail
    return rendered


def _fill_parts(content: EmailContent, body: str, context: Mapping[str, Any]) -> Rendered:
    errors: list[str] = []
    subject, error = fill(content.subject, context, part="subject")
    errors += [error] if error else []
    html, error = fill(body, context, html=True, part="html")
    errors += [error] if error else []
    if content.text and content.text.strip():
        text, error = fill(content.text, context, part="text")
        errors += [error] if error else []
    else:
        text = html_to_text(html)
    # A header cannot hold line breaks; a field with one must not break the message.
    subject = " ".join(subject.split())
    return Rendered(subject, html, text, errors)




def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    html: str,
    text: str,
    message_id: str,
    unsubscribe_url: Optional[str],
    date: Optional[str] = None,
    reply_to: Optional[str] = None,
    unsubscribe_mailto: Optional[str] = None,
    list_id: Optional[str] = None,
    feedback_id: Optional[str] = None,
) -> EmailMessage:
    """A multipart/alternative message with one-click unsubscribe headers (RFC 8058),
    List-Id (RFC 2919) and Feedback-ID; ``mime.build_raw`` writes the same bytes faster."""
    from engine.delivery.mime import list_unsubscribe, rfc5322_date

    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = date or rfc5322_date()
    message["Message-ID"] = message_id
    if reply_to:
        message["Reply-To"] = reply_to
    unsubscribe = list_unsubscribe(unsubscribe_url, unsubscribe_mailto)
    if unsubscribe:
        message["List-Unsubscribe"] = unsubscribe
        if unsubscribe_url:
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if list_id:
        message["List-Id"] = list_id
    if feedback_id:
        message["Feedback-ID"] = feedback_id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _titled(head: str, subject: str) -> str:
    """The layout's head with the subject as the document's title (some clients show it)."""
    return head.replace("<title></title>", f"<title>{html_lib.escape(subject)}</title>", 1)


def _trackable(content: EmailContent, fields: Mapping[str, Any], email: str, urls: TrackingUrls
               ) -> tuple[Rendered, tuple[str, ...]]:
    """Filled templates in the layout, with tracked links, the pixel and the unsubscribe footer.

    Links are rewritten in the body only (the layout has none), so a send
    parses no more HTML than it did before the layout existed."""
    rendered, chosen = render_designed(content, fields, email)
    body, tracked = rewrite_links(rendered.html, urls)
    if chosen.whole_document:
        rendered.html = add_footer(body, urls)
    else:
        rendered.html = (_titled(chosen.head, rendered.subject) + body + chosen.footer + add_footer("", urls)
                         + chosen.tail)
    rendered.text = add_text_footer(rendered.text, urls)
    _check_message(rendered)
    return rendered, tracked


def render_email(
    content: EmailContent,
    fields: Mapping[str, Any],
    *,
    email: str,
    sender: str,
    urls: TrackingUrls,
    token_id: Id,
    node_id: Id,
    domain: Optional[str] = None,
) -> RenderedEmail:
    """Everything for one send: filled templates, tracking, headers.

    ``urls`` carries the campaign uid, send and lead ids the tracking tokens
    sign; the Message-ID's domain is the sender's unless ``domain`` is given.
    """
    rendered, tracked = _trackable(content, fields, email, urls)
    message = build_message(
        sender=sender,
        to=email,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        message_id=message_id(urls.campaign_uid, token_id, node_id, domain or sender_domain(sender)),
        unsubscribe_url=urls.unsubscribe(),
    )
    return RenderedEmail(message, rendered.errors, tracked)


def render_raw(
    content: EmailContent,
    fields: Mapping[str, Any],
    *,
    email: str,
    sender: str,
    urls: TrackingUrls,
    message_id: str,
    reply_to: Optional[str] = None,
    unsubscribe_mailto: Optional[str] = None,
    list_id: Optional[str] = None,
    feedback_id: Optional[str] = None,
) -> tuple[bytes, list[str]]:
    """``render_email`` for the outbox: the same message, written straight to bytes
    (``engine/delivery/mime.py``), with the Message-ID the engine stored and the
    campaign's identity headers (Reply-To, the ``mailto:`` unsubscribe, List-Id, Feedback-ID)."""
    from engine.delivery.mime import build_raw

    rendered, _tracked = _trackable(content, fields, email, urls)
    raw = build_raw(sender=sender, to=email, subject=rendered.subject, html=rendered.html, text=rendered.text,
                    message_id=message_id, unsubscribe_url=urls.unsubscribe(), reply_to=reply_to,
                    unsubscribe_mailto=unsubscribe_mailto, list_id=list_id, feedback_id=feedback_id)
    return raw, rendered.errors

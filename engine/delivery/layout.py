"""The designed email around a body: one column, at most 600 px, the campaign's theme.

What goes out must look the same in Gmail, Outlook and a phone, so the
layout sticks to what every mail client renders: nested tables (no flexbox,
no grid), a web-safe font stack, and every style written on the element it
styles (CSS inlined by ``css-inline``, a kept library). Only the one media
query that narrows the padding on a phone stays in a ``<style>`` block;
clients that drop it still get a readable single column.

The campaign's theme comes from the flow file's top-level ``theme`` object:
``logo`` (an http(s) image URL), ``color`` (the brand colour, ``#RRGGBB``),
``footer`` (a line such as why the lead gets these emails) and ``address``
(the sender's postal address, which CAN-SPAM requires in every commercial
email). Every field is optional and anything odd falls back to the default,
so a flow without a theme, or with fields this version does not know, still
renders.

Inlining is slow next to filling in a template, so it happens once per
(body, format, theme) and is cached: the layout's parts come back as plain
strings and the body as a template with its styles already inlined; a send
only fills in the fields and joins the parts.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

import css_inline

from engine.flow.body import markdown_to_html, placeholders, protect, restore

DEFAULT_COLOR = "#2563EB"
#: Fonts every desktop, web and phone mail client has; no web fonts.
FONT_STACK = "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
MAX_WIDTH = 600

_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_DOCUMENT = re.compile(r"<\s*(?:html|body)\b", re.IGNORECASE)
_START, _END = "<!--mailbranch-body-->", "<!--/mailbranch-body-->"
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class Theme:
    """How a campaign's emails look; the defaults give a clean, neutral email."""

    logo: str = ""
    color: str = DEFAULT_COLOR
    footer: str = ""
    address: str = ""

    @classmethod
    def from_flow(cls, value: Any) -> Theme:
        """The theme a flow file's ``theme`` value describes; odd values fall back to defaults."""
        if not isinstance(value, dict):
            return cls()

        def text(key: str) -> str:
            item = value.get(key)
            return item.strip() if isinstance(item, str) else ""

        logo = text("logo")
        if not logo.lower().startswith(("https://", "http://")):
            logo = ""
        color = text("color")
        return cls(logo=logo, color=color if _COLOR.fullmatch(color) else DEFAULT_COLOR,
                   footer=text("footer"), address=text("address"))

    def as_json(self) -> dict[str, str]:
        """The flow-file form: only the fields that differ from the defaults."""
        return {k: v for k, v in (("logo", self.logo), ("color", self.color), ("footer", self.footer),
                                  ("address", self.address)) if v and v != getattr(Theme, k)}

    def footer_text(self) -> str:
        """The footer's words for the plain-text part (the postal address included)."""
        return "\n".join(line for line in (self.footer, self.address) if line)


@dataclass(frozen=True)
class Design:
    """One email node's layout for one theme, ready to be filled per lead.

    ``body`` is the body template with styles inlined (None: the body is a
    whole HTML document of its own and is sent as written). The message's
    HTML is ``head + filled body + footer + unsubscribe line + tail``.
    """

    body: str
    head: str = ""
    footer: str = ""
    tail: str = ""
    whole_document: bool = False


def _stylesheet(theme: Theme) -> str:
    color = theme.color
    return f"""
body {{ margin: 0; padding: 0; background-color: #F3F4F6; -webkit-text-size-adjust: 100%; }}
.mb-outer {{ background-color: #F3F4F6; width: 100%; }}
.mb-wrap {{ padding: 24px 12px; }}
.mb-container {{ width: 100%; max-width: {MAX_WIDTH}px; background-color: #FFFFFF; }}
.mb-bar {{ background-color: {color}; height: 6px; font-size: 6px; line-height: 6px; }}
.mb-logo {{ padding: 24px 32px 0 32px; }}
.mb-logo img {{ display: block; max-width: 180px; height: auto; border: 0; }}
.mb-content {{ padding: 24px 32px 28px 32px; font-family: {FONT_STACK}; font-size: 16px; line-height: 1.6;
  color: #1F2937; }}
.mb-content p {{ margin: 0 0 16px 0; }}
.mb-content h1 {{ margin: 0 0 16px 0; font-size: 26px; line-height: 1.25; color: #111827; }}
.mb-content h2 {{ margin: 24px 0 12px 0; font-size: 21px; line-height: 1.3; color: #111827; }}
.mb-content h3 {{ margin: 20px 0 8px 0; font-size: 18px; line-height: 1.3; color: #111827; }}
.mb-content a {{ color: {color}; text-decoration: underline; }}
.mb-content ul, .mb-content ol {{ margin: 0 0 16px 0; padding-left: 24px; }}
.mb-content li {{ margin: 0 0 6px 0; }}
.mb-content img {{ max-width: 100%; height: auto; border: 0; }}
.mb-content blockquote {{ margin: 0 0 16px 0; padding: 4px 0 4px 16px; border-left: 4px solid {color};
  color: #4B5563; }}
.mb-content hr {{ border: 0; border-top: 1px solid #E5E7EB; margin: 24px 0; }}
.mb-content table {{ border-collapse: collapse; margin: 0 0 16px 0; }}
.mb-content th, .mb-content td {{ border: 1px solid #E5E7EB; padding: 6px 10px; text-align: left; }}
.mb-content code {{ font-family: Consolas, Menlo, monospace; font-size: 14px; background-color: #F3F4F6; }}
.mb-footer {{ padding: 16px 32px 24px 32px; font-family: {FONT_STACK}; font-size: 12px; line-height: 1.5;
  color: #6B7280; text-align: center; border-top: 1px solid #E5E7EB; }}
.mb-footer p {{ margin: 0 0 6px 0; }}
.mb-footer a {{ color: #6B7280; }}
"""


#: Kept in a <style> block (media queries cannot be inlined): a phone gets narrower padding.
_RESPONSIVE = ("@media only screen and (max-width: 620px) { .mb-wrap { padding: 0 !important; } "
               ".mb-content { padding: 20px 18px !important; } "
               ".mb-logo { padding: 20px 18px 0 18px !important; } "
               ".mb-footer { padding: 14px 18px 20px 18px !important; } }")


def _page(theme: Theme, body: str) -> str:
    """The whole layout around ``body``, with its stylesheet still in ``<style>``."""
    logo = ""
    if theme.logo:
        logo = (f'<tr><td class="mb-logo"><img src="{html_lib.escape(theme.logo, quote=True)}" alt="" '
                'width="180"></td></tr>\n')
    footer_lines = "".join(f"<p>{html_lib.escape(line).replace(chr(10), '<br>')}</p>"
                           for line in (theme.footer, theme.address) if line)  # an address may have lines
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="x-apple-disable-message-reformatting"><title></title>'
        f"<style>{_RESPONSIVE}</style><style>{_stylesheet(theme)}</style></head>\n"
        '<body><table role="presentation" class="mb-outer" width="100%" cellpadding="0" cellspacing="0" '
        'border="0"><tr><td class="mb-wrap" align="center">\n'
        f'<table role="presentation" class="mb-container" width="{MAX_WIDTH}" cellpadding="0" cellspacing="0" '
        'border="0">\n'
        # The brand colour as a bar across the top: a cell's bgcolor, which every client paints.
        f'<tr><td class="mb-bar" bgcolor="{theme.color}" height="6">&nbsp;</td></tr>\n'
        f'{logo}<tr><td class="mb-content">{_START}{body}{_END}</td></tr>\n'
        f'<tr><td class="mb-footer">{footer_lines}<!--mailbranch-footer--></td></tr>\n'
        "</table>\n</td></tr></table></body></html>\n"
    )


#: What every well-made email's head carries for the clients that need it, added after
#: inlining (the inliner would drop rules that match nothing in the layout): Outlook's
#: VML namespaces and 96 dpi setting, light colours only (no forced dark-mode inversion),
#: no automatic links on the postal address or dates (iOS), and the usual client resets.
#: It also keeps the designed HTML above SpamAssassin's HTML_IMAGE_ONLY sizes, which
#: score any message with an image (the open pixel) and under 3,200 bytes of HTML.
_HTML_OPEN = ('<html lang="en" xmlns="http://www.w3.org/1999/xhtml" xmlns:v="urn:schemas-microsoft-com:vml" '
              'xmlns:o="urn:schemas-microsoft-com:office:office">')
_CLIENT_HEAD = (
    '<meta name="color-scheme" content="light"><meta name="supported-color-schemes" content="light">'
    '<meta name="format-detection" content="telephone=no, date=no, address=no, email=no">'
    "<!--[if mso]><noscript><xml><o:OfficeDocumentSettings><o:AllowPNG/><o:PixelsPerInch>96</o:PixelsPerInch>"
    "</o:OfficeDocumentSettings></xml></noscript><![endif]-->"
)
#: Client resets, in the phone tweak's <style> block (nothing in the layout depends on them).
_CLIENT_CSS = (
    " body, table, td, a { -webkit-text-size-adjust: 100%; -ms-text-size-adjust: 100%; } "
    "table, td { mso-table-lspace: 0pt; mso-table-rspace: 0pt; border-collapse: collapse; } "
    "img { -ms-interpolation-mode: bicubic; border: 0; outline: none; text-decoration: none; } "
    "a[x-apple-data-detectors] { color: inherit !important; text-decoration: none !important; "
    "font-size: inherit !important; font-family: inherit !important; font-weight: inherit !important; "
    "line-height: inherit !important; } "
    "u + #body a, #MessageViewBody a { color: inherit; text-decoration: none; font-size: inherit; "
    "font-family: inherit; font-weight: inherit; line-height: inherit; }"
)


def _client_head(head: str) -> str:
    head = head.replace('<html lang="en">', _HTML_OPEN, 1)
    head = head.replace("</style>", _CLIENT_CSS + "</style>", 1)
    return head.replace("</head>", _CLIENT_HEAD + "</head>", 1)


def _inline(page: str) -> Optional[str]:
    try:
        return _INLINER.inline(page)
    except (ValueError, css_inline.InlineError):  # odd markup: send it un-inlined rather than not at all
        return None


@lru_cache(maxsize=1024)
def design(source: str, body_format: str, theme: Theme) -> Design:
    """The layout for one body template in one theme (cached: once per template, not per lead).

    A body that is a whole HTML document (it has ``<html>`` or ``<body>``)
    was designed by its author and is left as written.
    """
    html = markdown_to_html(source) if body_format == "markdown" else source
    if body_format != "markdown" and _DOCUMENT.search(html):
        return Design(body=html, whole_document=True)
    protected, tags, prefix = protect(html)
    inlined = _inline(_page(theme, protected))
    body = protected
    if inlined is not None and inlined.count(_START) == 1 and inlined.count(_END) == 1:
        head, rest = inlined.split(_START)
        inner, tail = rest.split(_END)
        # The inliner re-parses the body; if that moved or lost a merge field (text
        # inside a <table>, say), keep the body as written and inline only the layout.
        if placeholders(inner, prefix) == list(range(len(tags))):
            body = inner
    else:
        layout = _inline(_page(theme, "")) or _page(theme, "")
        head, rest = layout.split(_START)
        tail = rest.split(_END)[1]
    footer_at = tail.index("<!--mailbranch-footer-->")
    return Design(body=restore(body, tags, prefix), head=_client_head(head),
                  footer=tail[:footer_at], tail=tail[footer_at + len("<!--mailbranch-footer-->"):])


def preview_unsubscribe() -> str:
    """Where the unsubscribe line stands in a preview (the real link is made per send)."""
    return ('\n<p style="font-size:12px;color:#777777;margin-top:24px">'
            "Don't want these emails? <a href=\"#unsubscribe\">Unsubscribe</a></p>\n")

"""Making one send trackable: its pixel, tracked links and unsubscribe link.

Links are rewritten in the HTML's own ``<a>`` tags (found with the same
parser the validator uses, :mod:`engine.flow.links`), so the URL a click
reports is exactly the URL the flow's links list shows.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass
from functools import cached_property
from html.parser import HTMLParser

from engine.delivery.tracking_tokens import Id, TrackingTokens
from engine.flow.links import is_trackable

_HREF = re.compile(r"""(\bhref\s*=\s*)("[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class TrackingUrls:
    """The tracking server's URLs for one send to one lead.

    ``campaign_uid`` is the campaign's world-unique uid and ``email`` the
    address the message goes to: the unsubscribe token carries it, so the
    unsubscribe is honoured even where the campaign is not known.
    """

    public_url: str
    tokens: TrackingTokens
    campaign_uid: str
    send_id: Id
    lead_id: Id
    email: str

    @property
    def base(self) -> str:
        return self.public_url.rstrip("/")

    def pixel(self) -> str:
        return f"{self.base}/o/{self.tokens.open_token(self.campaign_uid, self.send_id)}.gif"

    def click(self, url: str) -> str:
        return f"{self.base}/c/{self.tokens.click_token(self.campaign_uid, self.send_id, url)}"

    def unsubscribe(self) -> str:
        return self._unsubscribe_url

    @cached_property
    def _unsubscribe_url(self) -> str:
        # Asked for three times per message (header, HTML and text footers); the token is
        # deterministic, so it is signed once.
        return f"{self.base}/u/{self.tokens.unsubscribe_token(self.campaign_uid, self.lead_id, self.email)}"


class _AnchorFinder(HTMLParser):
    """Offsets of every ``<a>`` start tag with a trackable href."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.anchors: list[tuple[int, str, str]] = []  # (offset, raw tag, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        url = (dict(attrs).get("href") or "").strip()
        raw = self.get_starttag_text()
        if raw and is_trackable(url):
            line, column = self.getpos()
            self.anchors.append((self._line_starts[line - 1] + column, raw, url))


def rewrite_links(html: str, urls: TrackingUrls) -> tuple[str, tuple[str, ...]]:
    """The HTML with each http(s) link sent through the tracker, and the links tracked."""
    finder = _AnchorFinder(html)
    try:
        finder.feed(html)
        finder.close()
    except Exception:  # leave markup html.parser cannot follow untracked rather than break it
        pass
    pieces: list[str] = []
    done = 0
    tracked: dict[str, None] = {}
    for offset, raw, url in finder.anchors:
        if html[offset:offset + len(raw)] != raw or offset < done:
            continue
        new_href = html_lib.escape(urls.click(url), quote=True)
        tag = _HREF.sub(lambda m, href=new_href: f'{m.group(1)}"{href}"', raw, count=1)
        pieces += [html[done:offset], tag]
        done = offset + len(raw)
        tracked[url] = None
    pieces.append(html[done:])
    return "".join(pieces), tuple(tracked)


def _before_body_end(html: str, snippet: str) -> str:
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + snippet
    at = ends[-1].start()
    return html[:at] + snippet + html[at:]


def add_footer(html: str, urls: TrackingUrls) -> str:
    """Append the unsubscribe link and the 1x1 open pixel (inside ``<body>`` if there is one)."""
    unsubscribe = html_lib.escape(urls.unsubscribe(), quote=True)
    pixel = html_lib.escape(urls.pixel(), quote=True)
    snippet = (
        '\n<p style="font-size:12px;color:#777777;margin-top:24px">'
        f'Don\'t want these emails? <a href="{unsubscribe}">Unsubscribe</a></p>\n'
        f'<img src="{pixel}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />\n'
    )
    return _before_body_end(html, snippet)


def add_text_footer(text: str, urls: TrackingUrls) -> str:
    return f"{text.rstrip()}\n\n--\nUnsubscribe: {urls.unsubscribe()}\n"

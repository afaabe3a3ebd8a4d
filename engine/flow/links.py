"""The links an email's HTML holds: what click conditions may name and what
the tracker may redirect to."""

from __future__ import annotations

from functools import lru_cache
from html.parser import HTMLParser


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href") or ""
            self._href = href.strip()
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None


def is_trackable(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


@lru_cache(maxsize=4096)
def extract_links(html: str) -> tuple[tuple[str, str], ...]:
    """``(url, link text)`` for each distinct http(s) link, in document order."""
    parser = _LinkParser()
    try:
        parser.feed(html or "")
        parser.close()
    except Exception:  # html.parser is lenient; never let odd markup break validation
        pass
    seen: dict[str, str] = {}
    for url, text in parser.links:
        if is_trackable(url) and url not in seen:
            seen[url] = text
    return tuple(seen.items())


def link_urls(html: str) -> tuple[str, ...]:
    return tuple(url for url, _ in extract_links(html))

"""The plain-text part derived from an email's HTML when the flow gives none.

Mail clients that show text (and spam filters that compare the parts) get
the same words and every link's address, written after its text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = {
    "p", "div", "section", "article", "header", "footer", "table", "tr", "ul", "ol",
    "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "center",
}


def _source_breaks_to_spaces(data: str) -> str:
    """Each line break, with the spaces and tabs around it, becomes one space.

    Done by splitting, not with a ``[ \\t]*\\n[ \\t]*`` pattern: on a long run of
    spaces with no break in it (a lead's field, a padded value) such a pattern
    backtracks from every position and takes quadratic time.
    """
    pieces = data.replace("\r\n", "\n").split("\n")
    last = len(pieces) - 1
    return " ".join(piece.rstrip(" \t") if i == 0 else piece.lstrip(" \t") if i == last else piece.strip(" \t")
                    for i, piece in enumerate(pieces))
_SKIP = {"script", "style", "head", "title", "template"}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._pre = 0
        self._href: str | None = None
        self._link_text: list[str] = []

    def _newline(self, count: int = 1) -> None:
        self.parts.append("\n" * count)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self._pre += 1
        if tag in _SKIP:
            self._skip += 1
        elif tag == "br":
            self._newline()
        elif tag in _BLOCKS:
            self._newline(2)
        elif tag == "li":
            self._newline()
            self.parts.append("- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "a":
            self._href = (dict(attrs).get("href") or "").strip()
            self._link_text = []
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.handle_data(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self._newline(2)
        elif tag == "a" and self._href is not None:
            text = " ".join("".join(self._link_text).split())
            href, self._href = self._href, None
            if href and not href.lower().startswith(("javascript:", "#")) and href != text:
                shown = href[7:] if href.lower().startswith("mailto:") else href
                self.parts.append(f" ({shown})" if text else shown)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if not self._pre and "\n" in data:  # a line break in HTML source is a space (Markdown writes them)
            data = _source_breaks_to_spaces(data)
        self.parts.append(data)
        if self._href is not None:
            self._link_text.append(data)


def html_to_text(html: str) -> str:
    """Readable text for an HTML body, keeping link URLs."""
    parser = _TextParser()
    try:
        parser.feed(html or "")
        parser.close()
    except Exception:  # html.parser is lenient; odd markup must not stop a send
        pass
    lines = []
    for line in "".join(parser.parts).split("\n"):
        lines.append(re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()

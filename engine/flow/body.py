"""An email body as its author wrote it: HTML, or Markdown turned into HTML.

Marketers do not write HTML, so an email node may say ``"format": "markdown"``
and hold Markdown in its ``html`` field; without ``format`` the body is HTML,
so flows written before Markdown existed render as they always did.

Merge fields (``{{ first_name }}``, ``{% if vip %}``) must come out of the
Markdown converter and the CSS inliner exactly as written, although both
would escape quotes and move text. So every Jinja tag is first swapped for a
plain ASCII placeholder, the text is converted, and the tags are put back
(``protect``/``restore``). The conversion is cached by text: it runs once per
template, never once per lead.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt

FORMATS: tuple[str, ...] = ("html", "markdown")
DEFAULT_FORMAT = "html"

_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
#: CommonMark plus tables; raw HTML stays allowed so a Markdown body can hold a button or an image.
_MARKDOWN = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable("table")


def body_format(node: Any) -> str:
    """``"markdown"`` or ``"html"`` for an email node (anything else counts as HTML)."""
    value = node.get("format") if hasattr(node, "get") else None
    return value if value in FORMATS else DEFAULT_FORMAT


def protect(source: str) -> tuple[str, tuple[str, ...], str]:
    """``source`` with each Jinja tag replaced by ``{prefix}{n}z``; the tags; the prefix.

    The prefix is letters only (safe in text, link targets and attributes) and
    is lengthened until it does not occur in the source, so restoring never
    touches the author's own words.
    """
    prefix = "mbtpl"
    lowered = source.lower()
    while prefix in lowered:
        prefix += "q"
    tags: list[str] = []

    def swap(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"{prefix}{len(tags) - 1}z"

    return _TAG.sub(swap, source), tuple(tags), prefix


def placeholders(text: str, prefix: str) -> list[int]:
    """The placeholder numbers in ``text``, in order (to check nothing was moved or lost)."""
    return [int(n) for n in re.findall(re.escape(prefix) + r"(\d+)z", text)]


def restore(text: str, tags: tuple[str, ...], prefix: str) -> str:
    """Put the Jinja tags back where ``protect`` left placeholders."""
    if not tags:
        return text
    # A block tag alone on a Markdown line became its own paragraph; unwrap it.
    text = re.sub(rf"<p>({re.escape(prefix)}\d+z)</p>\n?",
                  lambda m: m.group(1) if tags[int(m.group(1)[len(prefix):-1])].startswith(("{%", "{#"))
                  else m.group(0), text)
    return re.sub(re.escape(prefix) + r"(\d+)z", lambda m: tags[int(m.group(1))], text)


@lru_cache(maxsize=1024)
def markdown_to_html(source: str) -> str:
    """The HTML of a Markdown body, its merge fields and tags untouched."""
    protected, tags, prefix = protect(source)
    return restore(_MARKDOWN.render(protected), tags, prefix)


def body_html(node: Any) -> str:
    """The body of an email node as HTML (still a template): what links are read from."""
    source = node.get("html") or ""
    if not isinstance(source, str):
        return ""
    return markdown_to_html(source) if body_format(node) == "markdown" else source

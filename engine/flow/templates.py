"""The sandboxed Jinja2 environment every template goes through.

Validation uses it to catch broken templates while the marketer types; the
renderer uses the same environment, so what validates is what renders.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

ENVIRONMENT = SandboxedEnvironment(autoescape=False)


@lru_cache(maxsize=8192)
def template_error(source: str) -> Optional[str]:
    """A sentence describing the template's syntax error, or None if it parses."""
    try:
        ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    return None

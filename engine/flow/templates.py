"""The sandboxed Jinja2 environment every template goes through, with size limits.

Validation uses it to catch broken templates while the marketer types; the
renderer uses the same environment, so what validates is what renders.

Jinja2's sandbox stops a template from reaching Python's internals, but not
from asking for a value of a billion characters (``{{ 'a' * 1000000000 }}``),
a number of a billion digits (``{{ 9 ** 9 ** 9 }}``) or ten billion loop
steps: one such template grew a run to 4 GB. So this environment checks
sizes before it builds a value, wherever a template can make one grow:

- the operators ``*``, ``+``, ``%`` and ``**`` (``call_binop``), and ``~``
  (a checked join in the compiled code);
- the filters and ``str`` methods that take a width or a repeat count
  (``center``, ``indent``, ``replace``, ``join``, ``format``, ``ljust``...),
  and what lazy filters (``map``, ``select``...) yield, item by item;
- text captured by ``{% set %}``, macros and filter blocks, and the output;
- loop steps and calls, counted per render (``MAX_STEPS``).

Each limit raises ``TemplateLimitError``, a ``SecurityError`` (so a
``TemplateError``) whose message is one sentence for the marketer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any, Optional

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from engine.flow.template_limits import (
    _STEPS,
    MAX_CHARS,
    MAX_INT_BITS,
    MAX_LIPSUM,
    TemplateLimitError,
    _check_count,
    _check_int,
    _check_percent_format,
    _check_str_format,
    _counted,
    _sized,
    _tick,
    _too_long,
    check_size,
    size_of,
)


class _CappedBuffer(list):
    """What ``{% set %}...{% endset %}``, macros and filter blocks capture, capped."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def append(self, item: Any) -> None:
        if isinstance(item, str):
            self.size += len(item)
            if self.size > MAX_CHARS:
                raise _too_long(self.size)
        list.append(self, item)

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)


class _CappedCodeGenerator(CodeGenerator):
    """Jinja2's code generator with the three growth paths the sandbox does not see."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.capped_buffer()")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.check_size(")
        super().visit_Concat(node, frame)
        self.write(")")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if node.recursive:
            super().visit_For(node, frame)
            return
        original = node.iter
        node.iter = nodes.Call(nodes.EnvironmentAttribute("counted"), [original], [], None, None)
        try:
            super().visit_For(node, frame)
        finally:
            node.iter = original


class CappedTemplate(Template):
    """A template whose ``render`` counts steps and stops output past ``MAX_CHARS``."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        token = _STEPS.set([0])
        try:
            parts: list[str] = []
            size = 0
            for chunk in self.generate(*args, **kwargs):
                size += len(chunk)
                if size > MAX_CHARS:
                    raise TemplateLimitError(f"the template writes more than {MAX_CHARS:,} characters; one "
                                             "email holds at most that")
                parts.append(chunk)
            return "".join(parts)
        finally:
            _STEPS.reset(token)


def _capped_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    """Jinja2's ``lipsum`` with at most ``MAX_LIPSUM`` paragraphs of at most 1,000 words."""
    if not isinstance(n, int) or not isinstance(max, int) or n > MAX_LIPSUM or max > 1000:
        raise TemplateLimitError(f"lipsum() makes at most {MAX_LIPSUM} paragraphs of at most 1,000 words")
    return generate_lorem_ipsum(n, html, min, max)


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with size limits; see the module docstring for where they apply.

    Immutable, so ``list.append`` and ``dict.update`` cannot grow a value
    step by step behind the checks.
    """

    code_generator_class = _CappedCodeGenerator
    template_class = CappedTemplate
    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["lipsum"] = _capped_lipsum
        for name, check in _FILTER_CHECKS.items():
            self.filters[name] = _checked_filter(self.filters[name], check)
        for name in _LAZY_FILTERS:
            if name not in _FILTER_CHECKS:
                self.filters[name] = _checked_filter(self.filters[name], _no_check)

    # Names the compiled code reaches through ``environment``.
    capped_buffer = staticmethod(_CappedBuffer)
    check_size = staticmethod(check_size)
    counted = staticmethod(_counted)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and not isinstance(count, bool):
                    if count > 0 and size_of(seq) * count > MAX_CHARS:
                        raise _too_long(size_of(seq) * count)
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                    raise TemplateLimitError("the template computes a number too large for an email")
        elif operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                total = size_of(left) + size_of(right)
                if total > MAX_CHARS:
                    raise _too_long(total)
        elif operator == "%":
            if isinstance(left, str):
                _check_percent_format(left, right)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
                if right * math.log2(abs(left)) > MAX_INT_BITS:
                    raise TemplateLimitError("the template computes a number too large for an email")
        result = super().call_binop(context, operator, left, right)
        _check_int(result)
        return check_size(result)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _check_str_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_int(result)
        return check_size(result)

    def wrap_str_format(self, value: Any) -> Optional[Callable[..., str]]:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt: str = value.__self__
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if is_map and args and isinstance(args[0], dict) else kwargs
            _check_str_format(fmt, () if is_map else args, mapping)
            return check_size(wrapper(*args, **kwargs))

        return checked


def _check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Pre-check the ``str`` methods that can multiply a text's size."""
    if name in ("ljust", "rjust", "center", "zfill"):
        for value in (*args, *kwargs.values()):
            _check_count(value, "a width")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            _check_count(text.count("\t") * size + len(text), "a text")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _check_replace(text, args[0], args[1], args[2] if len(args) > 2 else -1)
    elif name == "join" and args:
        _check_join(text, args[0])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        _check_count(len(text) * longest, "a text")


def _check_replace(text: str, old: str, new: str, count: Any = -1) -> None:
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    grown = len(text) + hits * (len(new) - len(old))
    if grown > MAX_CHARS:
        raise _too_long(grown)


def _check_join(separator: str, items: Any) -> None:
    if not isinstance(items, (list, tuple, range)):
        return  # lazy filters count what they yield (_sized); the size check after does the rest
    total = len(separator) * max(len(items) - 1, 0)
    for item in items:
        total += size_of(item)
        if total > MAX_CHARS:
            raise _too_long(total)


# -- filters that can grow a value, each with a check on its arguments ----------
def _center_check(value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    _check_count(width, "a width")


def _indent_check(value: Any, width: Any = 4, first: bool = False, blank: bool = False, **_: Any) -> None:
    text = str(value) if not isinstance(value, str) else value
    if isinstance(width, str):
        pad = len(width)
    elif isinstance(width, int):
        _check_count(width, "a width")
        pad = width
    else:
        return
    grown = len(text) + (text.count("\n") + 1) * pad
    if grown > MAX_CHARS:
        raise _too_long(grown)


def _replace_check(value: Any, old: Any = "", new: Any = "", count: Any = None, **_: Any) -> None:
    if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
        _check_replace(value, old, new, -1 if count is None else count)


def _join_check(value: Any, d: Any = "", attribute: Any = None, **_: Any) -> None:
    if isinstance(d, str) and attribute is None:
        _check_join(d, value)


def _format_check(value: Any, *args: Any, **kwargs: Any) -> None:
    if isinstance(value, str):
        _check_percent_format(value, args or tuple(kwargs.values()))


def _count_check(value: Any, count: Any = 1, *_: Any, **__: Any) -> None:
    _check_count(count, "a count")
    if isinstance(count, int) and count > 10_000:
        raise TemplateLimitError(f"the template asks for {count:,} groups; at most 10,000 fit one email")


def _wordwrap_check(value: Any, width: Any = 79, break_long_words: bool = True, wrapstring: Any = None,
                    **_: Any) -> None:
    if isinstance(value, str) and isinstance(wrapstring, str) and isinstance(width, int) and width > 0:
        grown = len(value) + (len(value) // width + 1) * len(wrapstring)
        if grown > MAX_CHARS:
            raise _too_long(grown)


def _tojson_check(value: Any, indent: Any = None, **_: Any) -> None:
    _check_count(indent, "an indent")
    if isinstance(indent, int) and indent > 100:
        raise TemplateLimitError("tojson indents by at most 100 spaces")


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "center": _center_check,
    "indent": _indent_check,
    "replace": _replace_check,
    "join": _join_check,
    "format": _format_check,
    "batch": _count_check,
    "slice": _count_check,
    "wordwrap": _wordwrap_check,
    "tojson": _tojson_check,
}


#: Filters that yield their items lazily: what they yield is counted (``_sized``).
_LAZY_FILTERS = ("map", "select", "reject", "selectattr", "rejectattr", "batch", "slice")


def _no_check(*_: Any, **__: Any) -> None:
    return None


def _checked_filter(func: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    """``func`` with ``check`` run on its arguments first and the size checked after.

    Jinja2 passes the context or environment first to filters marked with
    ``pass_context`` or ``pass_environment``; the wrapper keeps that mark and
    hands ``check`` only the value and the template's own arguments.
    """
    from jinja2.utils import _PassArg

    passes = _PassArg.from_obj(func)

    def checked(*args: Any, **kwargs: Any) -> Any:
        own = args[1:] if passes is not None else args
        check(*own, **kwargs)
        result = func(*args, **kwargs)
        if isinstance(result, Iterator):
            return _sized(result)
        return check_size(result)

    if passes is not None:
        checked.jinja_pass_arg = passes  # type: ignore[attr-defined]
    checked.__name__ = getattr(func, "__name__", "filter")
    return checked


ENVIRONMENT = LimitedSandbox(autoescape=False)
#: Missing fields render empty, as at run time; used to try a template once.
_TRIAL_ENVIRONMENT = ENVIRONMENT.overlay(undefined=ChainableUndefined)

#: Nodes a template can use without any chance of hitting a limit when its
#: fields are empty: plain text, ``{{ field }}``, ``{{ lead.city }}``.
_HARMLESS = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr, nodes.Getitem,
             nodes.Const)
_HARMLESS_FILTERS = frozenset({"default", "d", "e", "escape", "upper", "lower", "title", "capitalize", "trim",
                               "striptags", "safe"})


def _needs_trial(tree: nodes.Template) -> bool:
    """True unless the template is plain text and fields, which cannot grow."""
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Filter):
            if node.name not in _HARMLESS_FILTERS:
                return True
            continue
        if not isinstance(node, _HARMLESS):
            return True
    return False


#: Templates up to this size are remembered by text, so re-validating after one
#: edit costs nothing for the others; bigger ones are checked each time rather
#: than kept, so typing in a huge body cannot fill memory with its versions.
_CACHED_CHARS = 50_000


def template_error(source: str) -> Optional[str]:
    """A sentence describing what is wrong with the template, or None (see ``_template_error``)."""
    if len(source) <= _CACHED_CHARS:
        return _cached_template_error(source)
    return _template_error(source)


@lru_cache(maxsize=8192)
def _cached_template_error(source: str) -> Optional[str]:
    return _template_error(source)


def _template_error(source: str) -> Optional[str]:
    """A sentence describing what is wrong with the template, or None.

    Syntax errors come from parsing. A template that could do more than
    print its fields is also tried once with every field empty, so one that
    builds a huge value for every lead (``{{ 'a' * 1000000000 }}``) is
    caught before a run; other errors at that trial are ignored, because a
    real lead's fields may make them go away.
    """
    if len(source) > MAX_CHARS:
        return f"it has {len(source):,} characters; one email holds at most {MAX_CHARS:,}"
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    except RecursionError:
        return "its tags are nested too deeply"
    if not _needs_trial(tree):
        return None
    try:
        _TRIAL_ENVIRONMENT.from_string(source).render(email="lead@example.com")
    except TemplateLimitError as exc:
        return str(exc)
    except (RecursionError, MemoryError):
        return "filling it in needs more than one email can take"
    except Exception:  # noqa: BLE001 - other errors may depend on a real lead's fields
        return None
    return None

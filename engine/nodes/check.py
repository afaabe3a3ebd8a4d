"""Check: YES or NO at once on a lead field (SEMANTICS 10). It neither listens
nor waits, so its NO path needs no wait, and the token keeps its tracked flag."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from engine.flow.text import shown
from engine.nodes.base import ANY_JSON, NodeType, Port, Role, Setting
from engine.nodes.registry import register
from engine.nodes.wording import label

OPS = ("equals", "not-equals", "contains", "exists", "missing", "greater", "less", "in")
#: Operators that take no value.
UNARY = ("exists", "missing")
OP_WORDS = {"equals": "is", "not-equals": "is not", "contains": "contains", "exists": "is set",
            "missing": "is empty", "greater": ">", "less": "<", "in": "is one of"}


def _text(value: Any) -> str:
    """Text compared without regard to case or surrounding spaces."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def test(op: str, field_value: Any, value: Any) -> bool:
    """Whether a lead's field satisfies ``op value``. A missing or empty field is
    neither equal to nor greater nor less than anything (so ``not-equals`` is true)."""
    if op == "exists":
        return not _empty(field_value)
    if op == "missing":
        return _empty(field_value)
    if op == "not-equals":
        return not test("equals", field_value, value)
    if _empty(field_value):
        return False
    if op == "equals":
        return _text(field_value) == _text(value)
    if op == "contains":
        return _text(value) in _text(field_value)
    if op == "in":
        return _text(field_value) in {_text(v) for v in value}
    left, right = _number(field_value), _number(value)
    if left is None or right is None:
        return False
    return left > right if op == "greater" else left < right


@dataclass(frozen=True)
class CheckSpec:
    field: str
    op: str
    value: Any


class CheckType(NodeType):
    name = "check"
    title = "Field check"
    description = "Sends the lead down YES or NO at once, by a field of its lead list row."
    id_prefix = "k"
    reads_lead = True
    palette_order = 50
    fixed_ports = (Port("yes", Role.BRANCH, "YES"), Port("no", Role.BRANCH, "NO"))
    settings = (
        Setting("field", "Field", "field", ANY_JSON, help="A column of the lead list, such as country."),
        Setting("op", "Test", "choice", ANY_JSON, default="equals", choices=OPS, word="test"),
        Setting("value", "Value", "value", ANY_JSON,
                help="Text or a number; for “in”, a list. Compared without regard to case."),
    )
    figures = ("yes", "no")

    def example(self) -> dict:
        return {"field": "country", "op": "in", "value": ["FR", "BE"]}

    def summary(self, node, flow) -> str:
        field, op, value = node.get("field"), node.get("op"), node.get("value")
        if not isinstance(field, str) or not field or op not in OPS:
            return "Check (not set up)"
        if op in UNARY:
            return f"{field} {OP_WORDS[op]}?"
        shown_value = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        return f"{field} {OP_WORDS[op]} {shown_value}?"

    def problems(self, node, flow) -> list[str]:
        name = label(node)
        problems: list[str] = []
        field, op, value = node.get("field"), node.get("op"), node.get("value")
        if not isinstance(field, str) or not field.strip():
            problems.append(f"{name.capitalize()} has no field to check. Choose a column of the lead list.")
        if op not in OPS:
            what = "no test" if op is None else f"an unknown test “{shown(op)}”"
            problems.append(f"{name.capitalize()} has {what}. Choose one of {', '.join(OPS)}.")
            return problems
        if op in UNARY:
            return problems
        if op == "in":
            if not isinstance(value, list) or not value or not all(_scalar(v) for v in value):
                problems.append(f"The value of {name} must be a list of texts or numbers for “in”, such as "
                                "[\"FR\", \"BE\"].")
        elif not _scalar(value):
            problems.append(f"The value of {name} must be a text or a number for “{op}”.")
        return problems

    def compile(self, node, flow, options) -> CheckSpec:
        return CheckSpec(node.get("field"), node.get("op"), node.get("value"))

    def enter(self, batch, token) -> bool:
        spec: CheckSpec = batch.spec.compiled[token.node]
        value = batch.lead(token.lead_id).field(spec.field)
        batch.move(token, "yes" if test(spec.op, value, spec.value) else "no")
        return True


def _scalar(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and math.isfinite(value))


CHECK = register(CheckType())

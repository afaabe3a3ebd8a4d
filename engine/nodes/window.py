"""Window (send window, quiet hours): a token inside it moves on at once,
otherwise it waits until the window next opens in the lead's local time
(SEMANTICS 10). It holds a token like a wait, but is not a condition's timeout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from zoneinfo import ZoneInfo

from engine.flow.campaign import flow_zone, flow_zone_name
from engine.flow.text import shown
from engine.nodes.base import ANY_JSON, NodeType, Setting
from engine.nodes.registry import register
from engine.nodes.window_times import DAYS, minutes, next_opening, zone
from engine.nodes.wording import label


@dataclass(frozen=True)
class WindowSpec:
    days: frozenset[int]
    start: int
    end: int
    zone: ZoneInfo
    #: A lead field holding the lead's own IANA zone, used where valid.
    zone_field: Optional[str]

    def zone_of(self, lead) -> ZoneInfo:
        if self.zone_field:
            own = zone(lead.field(self.zone_field))
            if own is not None:
                return own
        return self.zone


class WindowType(NodeType):
    name = "window"
    title = "Send window"
    description = "Lets leads through only on chosen days and hours of their local time; the others wait for it to open."
    id_prefix = "win"
    holds = True
    reads_lead = True
    palette_order = 35
    settings = (
        Setting("days", "Days", "days", ANY_JSON, default=["mon", "tue", "wed", "thu", "fri"]),
        Setting("from", "From", "time", ANY_JSON, default="09:00", help="24-hour local time, such as 09:00."),
        Setting("to", "To", "time", ANY_JSON, default="17:00", help="24-hour local time, after From."),
        Setting("timezone", "Time zone", "timezone", ANY_JSON,
                help="An IANA time zone such as Europe/Paris; empty: the campaign's time zone.", word="time zone"),
        Setting("timezone_field", "Lead's time zone field", "field", ANY_JSON,
                help="A lead list column holding each lead's own time zone, used where it is valid.",
                word="time zone field"),
    )
    figures = ("waiting", "passed")

    def summary(self, node, flow) -> str:
        days = node.get("days")
        start, end = node.get("from"), node.get("to")
        if not isinstance(days, list) or minutes(start) is None or minutes(end) is None:
            return "Window (not set up)"
        listed = [d for d in DAYS if d in days]
        day_text = "Mon–Fri" if listed == list(DAYS[:5]) else ("every day" if len(listed) == 7 else
                                                              ", ".join(d.capitalize() for d in listed))
        where = node.get("timezone_field") and "lead's time" or (node.get("timezone") or flow_zone_name(flow))
        return f"{day_text} {start}–{end} ({where})"

    def problems(self, node, flow) -> list[str]:
        name = label(node)
        problems: list[str] = []
        days = node.get("days")
        if not isinstance(days, list) or not days:
            problems.append(f"{name.capitalize()} has no days. Choose at least one day of the week.")
        else:
            unknown = [d for d in days if d not in DAYS]
            if unknown:
                problems.append(f"{name.capitalize()} lists “{shown(unknown[0])}”, which is not a day; use "
                                f"{', '.join(DAYS)}.")
        start, end = minutes(node.get("from")), minutes(node.get("to"))
        if start is None or start >= 1440:
            problems.append(f"The From time of {name} is “{shown(node.get('from'))}”; write a 24-hour time such "
                            "as 09:00.")
        if end is None:
            problems.append(f"The To time of {name} is “{shown(node.get('to'))}”; write a 24-hour time such as "
                            "17:00.")
        if start is not None and end is not None and start < 1440 and start >= end:
            problems.append(f"{name.capitalize()} opens at {node.get('from')} and closes at {node.get('to')}, so it "
                            "is never open; From must be before To.")
        tz = node.get("timezone")
        if tz is not None and tz != "" and zone(tz) is None:
            problems.append(f"{name.capitalize()} names the time zone “{shown(tz)}”, which does not exist; use an "
                            "IANA name such as Europe/Paris.")
        field = node.get("timezone_field")
        if field is not None and (not isinstance(field, str) or not field.strip()):
            problems.append(f"The lead's time zone field of {name} must be the name of a lead list column.")
        return problems

    def compile(self, node, flow, options) -> WindowSpec:
        own = node.get("timezone")
        return WindowSpec(days=frozenset(DAYS.index(d) for d in node.get("days")), start=minutes(node.get("from")),
                          end=minutes(node.get("to")), zone=zone(own) if own else flow_zone(flow),
                          zone_field=node.get("timezone_field") or None)

    def enter(self, batch, token) -> bool:
        spec: WindowSpec = batch.spec.compiled[token.node]
        tz = spec.zone_of(batch.lead(token.lead_id)) if spec.zone_field else spec.zone
        opens = next_opening(batch.now, spec.days, spec.start, spec.end, tz)
        if opens <= batch.now:
            batch.move(token, "next")
            return True
        batch.hold(token, opens)
        return False


WINDOW = register(WindowType())

"""One lead's story in a run, as sentences: what it was sent, what it did, where it waited.

The engine hands over a lead's sends, events, skips and waits as records
with node ids and epoch milliseconds; the leads panel shows them as a
marketer reads them: campaign time since the start (``span``), steps named
as they were drawn, subjects as the lead got them, and within one instant
the cause before what it caused. Kept apart from the panel so the wording
can be tested without widgets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from editor.summary import readable_template, step_name
from engine.delivery.render import fill, template_context
from engine.flow.model import Flow
from engine.nodes.registry import node_type


def span(ms: Optional[int], origin: Optional[int]) -> str:
    """Campaign time as the marketer reads it: ``2d 03:15`` after the start."""
    if ms is None or origin is None:
        return "–"
    seconds = max(0, (ms - origin) // 1000)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")
    return f"{days}d {clock}" if days else clock


def wall(ms: Optional[int]) -> str:
    """The local date and time, for when a run completed or stopped."""
    return "" if ms is None else datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


#: Within one instant, causes come before what they cause: a wait ends, a path that was
#: already there sends, an open or click comes in, then the paths it started send.
_WAIT, _SEND, _EVENT, _SEND_FROM_EVENT = range(4)


def subject_for(flow: Flow, node_id: str, fields: Optional[dict[str, Any]] = None, email: str = "") -> str:
    """The subject a lead got: rendered with its fields, else the subject as written, made readable."""
    node = flow.find_node(node_id)
    if node is None or not node_type(node.type).sends:
        return step_name(flow, node_id)
    subject = str(node.get("subject") or "")
    if fields is not None:
        rendered, error = fill(subject, template_context(fields, email), part="subject")
        if error is None:
            return " ".join(rendered.split())
    return readable_template(subject)


#: Why a lead was not sent an email its path reached.
SKIP_REASONS = {
    "already-sent": "already sent to this lead on another path",
    "unsubscribe": "the address unsubscribed (suppression list)",
    "bounce": "the address bounced (suppression list)",
    "complaint": "the address reported spam (suppression list)",
    "manual": "the address is on the suppression list",
    "import": "the address is on the suppression list",
}


#: What a lead did, as the timeline says it.
EVENT_VERBS = {"open": "opened", "click": "clicked", "unsubscribe": "unsubscribed from", "convert": "converted"}
#: Said of an open or click a privacy proxy or link scanner made (SEMANTICS 5).
MACHINE = " by a machine (privacy proxy or link scanner)"


def window_text(hold: dict[str, Any]) -> str:
    """A lead held by a send window: ``waiting for the window (opens Mon 09:00 local)``."""
    return f"waiting for the window ({hold.get('text') or 'opens ' + str(hold.get('opens_local')) + ' local'})"


def wait_text(flow: Flow, wait: dict[str, Any]) -> str:
    """A wait's end, or a send window's opening, as the lead lived it."""
    hold = wait.get("window")
    if hold:
        opening = f"{hold.get('opens_local')} local"
        return {"pending": window_text(hold), "fired": f"the window opened ({opening})",
                "revoked": f"no longer waiting for the window (it opens {opening})"}.get(
                    wait["state"], f"{step_name(flow, wait['node'])} {wait['state']}")
    state = {"pending": "ends (waiting now)", "fired": "ended", "revoked": "cancelled"}.get(wait["state"],
                                                                                           wait["state"])
    return f"{step_name(flow, wait['node'])} {state}"


def converted_text(converted_at: Optional[int], origin: Optional[int]) -> str:
    """``converted at 1d 02:00`` (campaign time), or empty for a lead that has not converted."""
    return "" if converted_at is None else f"converted at {span(converted_at, origin)}"


def lead_state(lead: dict[str, Any], origin: Optional[int]) -> str:
    """A row of the leads list: converted, unsubscribed, held by a window, in progress, stopped or finished."""
    tokens = lead.get("tokens", [])
    if lead.get("converted_at") is not None:
        return converted_text(lead["converted_at"], origin)
    if lead.get("unsubscribed"):
        return "unsubscribed"
    return path_state(tokens)


def path_state(tokens: list[dict[str, Any]]) -> str:
    """Where a lead's paths (or one path, as a list of one) stand, in words."""
    held = [t["window"] for t in tokens if t["state"] == "waiting" and t.get("window")]
    if held and all(t.get("window") for t in tokens if t["state"] == "waiting"):
        return window_text(min(held, key=lambda h: h.get("opens_at") or 0))
    if any(t["state"] == "waiting" for t in tokens):
        return "in progress"
    return "stopped" if any(t["state"] == "stopped" for t in tokens) else "finished"


def state_tip(tokens: list[dict[str, Any]], state: str) -> str:
    """The State cell's tooltip: for a lead a window holds, the window's step and its time zone."""
    held = [t["window"] for t in tokens if t["state"] == "waiting" and t.get("window")]
    if not held:
        return state
    zones = ", ".join(dict.fromkeys(h.get("zone") or "" for h in held))
    return f"{state}: the send window lets leads through only at set local times ({zones})"


def timeline_lines(data: dict[str, Any], origin: Optional[int], flow: Flow) -> list[tuple[int, str]]:
    """Sends, events and waits of one lead as sentences, causes before their effects.

    Steps are named as the marketer drew them (subjects, questions), never by id.
    """
    fields = data.get("fields") or {}
    email = data.get("email") or ""
    tokens = {t["id"]: t for t in data.get("tokens", [])}
    sends_by_id = {s.get("id"): s for s in data.get("sends", [])}
    rows: list[tuple[int, int, int, str]] = []
    for i, s in enumerate(data.get("sends", [])):
        verb = "sent"
        if s["status"] in ("queued", "sending"):
            # A send takes time: the lead stands on this email until it has gone out.
            why = s["error"] if s.get("error") else "the campaign is paused" if data.get("paused") else ""
            verb, status = "queued", " (waiting to go out" + (f": {why}" if why else "") + ")"
        else:
            status = "" if s["status"] == "sent" else f" ({s['status']}{': ' + s['error'] if s.get('error') else ''})"
        token = tokens.get(s.get("token"), {})
        # A path made at this very instant was started by an event of this instant.
        forked = token.get("parent") is not None and token.get("created_at") == s["at"]
        rank = _SEND_FROM_EVENT if forked else _SEND
        rows.append((s["at"], rank, i, f"{verb} “{subject_for(flow, s['node'], fields, email)}”{status}"))
    for i, e in enumerate(data.get("events", [])):
        what = EVENT_VERBS.get(e["type"], e["type"])
        send = sends_by_id.get(e.get("send"))
        node = e.get("node") or (send or {}).get("node")
        about = f" “{subject_for(flow, node, fields, email)}”" if node else ""
        link = f" ({e['url']})" if e.get("url") and e["type"] == "click" else ""
        by = MACHINE if e.get("machine") else ""
        trig = (" → YES at " + ", ".join(step_name(flow, n) for n in e["triggered"])) if e.get("triggered") else ""
        rows.append((e["at"], _EVENT, i, f"{what}{about}{link}{by}{trig}"))
    if data.get("converted_at") is not None:
        # After the event that converted the lead: it finished every path at that instant.
        rows.append((data["converted_at"], _SEND_FROM_EVENT, len(rows), "converted: reached the campaign's goal"))
    for i, k in enumerate(data.get("skips", [])):
        subject = subject_for(flow, k["node"], fields, email)
        why = SKIP_REASONS.get(k.get("reason") or "already-sent", k.get("reason"))
        rows.append((k["at"], _SEND, len(rows) + i, f"not sent “{subject}”: {why}"))
    for i, w in enumerate(data.get("waits", [])):
        # Shown at the time the wait ends (or would have ended), which is what moves the lead on.
        rows.append((w["due_at"], _WAIT, i, wait_text(flow, w)))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [(at, text) for at, _rank, _i, text in rows]

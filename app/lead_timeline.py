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
    if node is None or node.type != "email":
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
        what = "opened" if e["type"] == "open" else "clicked"
        send = sends_by_id.get(e.get("send"))
        node = e.get("node") or (send or {}).get("node")
        about = f" “{subject_for(flow, node, fields, email)}”" if node else ""
        link = f" ({e['url']})" if e.get("url") else ""
        trig = (" → YES at " + ", ".join(step_name(flow, n) for n in e["triggered"])) if e.get("triggered") else ""
        rows.append((e["at"], _EVENT, i, f"{what}{about}{link}{trig}"))
    for i, k in enumerate(data.get("skips", [])):
        subject = subject_for(flow, k["node"], fields, email)
        why = SKIP_REASONS.get(k.get("reason") or "already-sent", k.get("reason"))
        rows.append((k["at"], _SEND, len(rows) + i, f"not sent “{subject}”: {why}"))
    for i, w in enumerate(data.get("waits", [])):
        # Shown at the time the wait ends (or would have ended), which is what moves the lead on.
        state = {"pending": "ends (waiting now)", "fired": "ended", "revoked": "cancelled"}.get(w["state"], w["state"])
        rows.append((w["due_at"], _WAIT, i, f"{step_name(flow, w['node'])} {state}"))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [(at, text) for at, _rank, _i, text in rows]

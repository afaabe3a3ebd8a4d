"""Condition: did the lead open or click the email it watches? YES at once if
so; otherwise NO at once, listening until the NO path's first wait ends
(SEMANTICS 3, 4, 5)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional

from engine.flow.body import body_html
from engine.flow.links import link_urls
from engine.flow.text import shown
from engine.nodes.base import Finding, NodeType, Port, Role, Setting
from engine.nodes.registry import node_type, register
from engine.nodes.wording import label

EVENTS = ("open", "click")
MODES = ("parallel", "exclusive")


@dataclass(frozen=True)
class ConditionSpec:
    event: str
    email: Optional[str]
    url: Optional[str]
    mode: str
    #: Count opens and clicks made by machines (privacy proxies, link scanners).
    count_machine: bool
    #: The wait the NO path starts with, and its duration in ms: how long it listens.
    timeout_node: str
    timeout_ms: int


class ConditionType(NodeType):
    name = "condition"
    title = "Condition"
    description = "Did the lead open or click the email? YES runs at once when it happens; NO starts with the wait that is the timeout."
    id_prefix = "c"
    palette_order = 20
    fixed_ports = (Port("yes", Role.EVENT, "YES"), Port("no", Role.TIMEOUT, "NO"))
    settings = (
        Setting("event", "Event", "choice", default="open", choices=EVENTS),
        Setting("email", "Watched email", "email", word="watched email"),
        Setting("url", "Link", "link", word="link"),
        Setting("mode", "Mode", "choice", choices=MODES,
                help="Parallel: the NO path carries on after a YES. Exclusive: the event moves the lead to YES."),
        Setting("count_machine", "Count machine opens and clicks", "flag", (bool,),
                help="Privacy proxies load every pixel and link scanners follow every link; by default only "
                     "what people do counts.", word="machine setting"),
    )
    figures = ("yes", "no")

    def summary(self, node, flow) -> str:
        event = node.get("event")
        verb = {"open": "Opened", "click": "Clicked"}.get(event, "Event")
        watched = node.get("email")
        target = f" {watched}" if watched else ""
        link = f" {node.get('url')}" if event == "click" and node.get("url") else ""
        return f"{verb}{target}{link}?"

    # -- validation ------------------------------------------------------
    def problems(self, node, flow) -> list[str]:
        problems: list[str] = []
        name = label(node)
        event = node.get("event")
        if event not in EVENTS:
            if event is None:
                problems.append(f"{name.capitalize()} has no event. Choose “open” or “click”.")
            else:
                problems.append(f"{name.capitalize()} waits for an unknown event “{shown(event)}”. Choose “open” "
                                "or “click”.")
        if node.get("mode") is not None and node.get("mode") not in MODES:
            problems.append(f"{name.capitalize()} has an unknown mode “{shown(node.get('mode'))}”. Choose "
                            "“parallel” or “exclusive”.")
        named = node.get("email")
        watched = flow.find_node(named) if named else None
        if named and (watched is None or not node_type(watched.type).sends):
            problems.append(f"{name.capitalize()} watches “{shown(named)}”, which is not an email of this flow. "
                            "Pick an email before it, or “nearest”.")
        if node.get("url") and event == "open":
            problems.append(f"{name.capitalize()} names a link, but only click conditions can. Remove the "
                            "link or make it a click condition.")
        return problems

    def port_findings(self, node, connected, flow) -> Iterator[Finding]:
        if "yes" not in connected:
            verb = "clicks" if node.get("event") == "click" else "opens"
            yield Finding("missing-yes-path", "error", f"The YES output of {label(node)} leads nowhere. Connect "
                          f"it to what should happen when the lead {verb}.")
        no = connected.get("no")
        if no is None:
            yield Finding("missing-no-path", "error", f"{label(node).capitalize()} has no NO path. Connect its NO "
                          "output to a Wait: that wait is how long the condition waits for the event.")
        else:
            target = flow.find_node(no)
            if target is not None and not getattr(node_type(target.type), "times_out", False):
                yield Finding("no-path-must-start-with-wait", "error", f"The NO path of {label(node)} starts "
                              f"with {label(target)}. Put a Wait first: it is how long the condition waits for "
                              "the event.", port="no")

    def graph_findings(self, node, facts) -> Iterator[Finding]:
        """The watched email is on every path to it (SEMANTICS 3); a click condition's email has links."""
        named = node.get("email")
        if named:
            if named not in facts.nodes or not facts.sends(named):
                return  # reported as bad-setting
            if not facts.dominates(named, node.id):
                yield Finding("no-email-before-condition", "error", f"{label(node).capitalize()} watches "
                              f"{label(facts.nodes[named])}, but some leads reach it without passing that email. "
                              "Watch an email that is on every path to it, or leave the choice on “nearest”.")
                return
            watched = {named}
        else:
            if node.id in facts.emailless:
                yield Finding("no-email-before-condition", "error", f"Some leads reach {label(node)} without "
                              "having been sent any email, so there is nothing to watch. Put an Email before it "
                              "on every path.")
                return
            watched = facts.nearest_emails[node.id]
        if node.get("event") == "click":
            yield from _link_findings(node, watched, facts)

    # -- running ---------------------------------------------------------
    def compile(self, node, flow, options) -> ConditionSpec:
        timeout = flow.target(node.id, "no")
        timeout_node = flow.find_node(timeout) if timeout else None
        # Only a valid flow runs: its NO path starts with a wait, whose compiled form is its duration.
        timeout_ms = node_type(timeout_node.type).compile(timeout_node, flow, options) if timeout_node else 0
        return ConditionSpec(event=node.get("event"), email=node.get("email") or None, url=node.get("url") or None,
                             mode=options.get("mode") or node.mode, count_machine=node.get("count_machine") is True,
                             timeout_node=timeout or "", timeout_ms=timeout_ms)

    def enter(self, batch, token) -> bool:
        spec: ConditionSpec = batch.spec.compiled[token.node]
        send_id = token.path.get(spec.email) if spec.email else token.last_send
        send = batch.sends.get(send_id) if send_id is not None else None
        if send is None:
            # The watched email was never sent (the address is suppressed): its
            # event cannot happen, so the token takes the NO path without listening.
            batch.make_tracked(token)
            batch.move(token, "no")
            return True
        if happened(send, spec):
            batch.move(token, "yes")
            return True
        batch.listen(token, spec, send, batch.now + spec.timeout_ms)
        batch.make_tracked(token)
        batch.move(token, "no")
        return True

    def hears(self, spec: ConditionSpec, event) -> bool:
        """Whether an event on the watched send is one this condition listens for."""
        return counts(spec, event.type, event.url, event.machine)

    def trigger(self, batch, listener, event) -> None:
        """The first matching event while it listens: in parallel mode a new token
        for the lead runs the YES path at once and the NO token carries on; in
        exclusive mode the NO token's wait is revoked and that token takes YES."""
        token = batch.tokens.get(listener.token_id)
        listener.state, listener.dirty = "triggered", True
        event.triggered.append(listener.condition)
        batch.stats["triggers"] += 1
        if token is None:
            return
        if listener.mode == "exclusive":
            batch.revoke_waits(token)
            listener.triggered_token = token.id
            batch.log_trigger(listener, token, token)
            token.node = listener.condition
            batch.move(token, "yes")
            batch.walk(token)
            return
        child = batch.spawn(token, listener.condition)
        listener.triggered_token = child.id
        batch.log_trigger(listener, token, child)
        batch.move(child, "yes")
        batch.walk(child)


def counts(spec: ConditionSpec, event_type: str, url: Optional[str], machine: bool) -> bool:
    """Whether an event is one this condition listens for (SEMANTICS 3, 5): a click
    counts as an open, but only a human one; machine events only where the
    condition counts them; a click condition may be limited to one link."""
    if machine and not spec.count_machine:
        return False
    if spec.event == "open":
        return event_type == "open" or (event_type == "click" and not machine)
    return event_type == "click" and (spec.url is None or spec.url == url)


def happened(send, spec: ConditionSpec) -> bool:
    """Whether the watched event already happened on this send."""
    if spec.event == "open":
        return (send.opened_at is not None
                or (spec.count_machine and send.machine_opened_at is not None))
    urls = send.clicked_urls + (send.machine_clicked_urls if spec.count_machine else ())
    if spec.url:
        return spec.url in urls
    return send.clicked_at is not None or (spec.count_machine and send.machine_clicked_at is not None)


def _link_findings(node, watched: set[str], facts) -> Iterator[Finding]:
    url = node.get("url")
    for email_id in sorted(watched):
        email = facts.nodes[email_id]
        links = link_urls(body_html(email))
        if not links:
            yield Finding("click-without-links", "error", f"{label(node).capitalize()} waits for a click in "
                          f"{label(email)}, which has no links. Add a link to the email or make this an open "
                          "condition.")
        elif url and url not in links:
            yield Finding("click-without-links", "error", f"{label(node).capitalize()} waits for a click on "
                          f"{shown(url)}, which is not a link in {label(email)}. Pick one of its links.")


CONDITION = register(ConditionType())

"""What starting a campaign sends to the engine, and what the Run dialog tells the user first.

Both come from the same three things: the flow as drawn, the app's settings
(the default sender, the outgoing server, the tracking address) and what a
running engine says about itself (``/health``), which wins over the settings
because a reattached engine may have been started with other ones. Kept out
of the window so that the sentence "Send to N people from SENDER through
SERVER" and the flow actually sent are computed by one piece of code.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Optional

from app.engine_process import EngineOptions
from app.preflight_panel import campaign_preflight, real_run_refusal
from app.publish_link import without_link
from app.run_dialog import RunTarget
from app.settings import AppSettings
from engine.delivery.identity import flow_identities, with_default_sender
from engine.delivery.render import DEFAULT_SENDER
from engine.flow.fileformat import dumps_flow, loads_flow
from engine.flow.model import Flow


def flow_to_run(flow: Flow, settings: AppSettings) -> dict:
    """The flow file to run: Settings' default sender filled in where the flow names none
    (and without the file's list of campaigns started from it: ``publish_link``)."""
    return with_default_sender(without_link(json.loads(dumps_flow(flow))), settings.default_sender())


def campaign_senders(flow: Flow, settings: AppSettings) -> list[str]:
    """Who the campaign's emails are from, as the engine will send them (with Settings' default)."""
    senders = [i.from_header() for i in flow_identities(loads_flow(json.dumps(flow_to_run(flow, settings))))]
    return senders or list(dict.fromkeys(n.get("sender") or DEFAULT_SENDER for n in flow.nodes if n.type == "email"))


def run_target(flow: Flow, settings: AppSettings, engine_facts: dict[str, Any], options: EngineOptions,
               tracking_port: int | None) -> RunTarget:
    """Where a real run would send: from the running engine's own word, else from the settings."""
    if "outgoing" in engine_facts:
        outgoing = engine_facts["outgoing"]
    else:
        url = (options.smtp_url or "sandbox").strip()
        outgoing = None if url.lower() == "sandbox" else url.split("@")[-1].split("://")[-1]
    public = engine_facts.get("tracking") or options.public_url or \
        f"http://{options.tracking_host}:{tracking_port or options.tracking_port}"
    flow_json = flow_to_run(flow, settings)
    # With a relay set, the run goes through it unless the user picks local only (checked then).
    checked = settings.relay_url or public
    return RunTarget(outgoing, public, campaign_senders(flow, settings),
                     preflight=campaign_preflight(flow_json, checked, options.smtp_url),  # issue 11
                     problem=real_run_refusal(flow_json, outgoing, checked), flow_json=flow_json,
                     test_smtp=test_smtp(settings, engine_facts), relay_url=settings.relay_url)


def test_smtp(settings: AppSettings, engine_facts: dict[str, Any]):
    """The server a test send goes through: the engine's sandbox, or Settings' outgoing server."""
    from engine.delivery.smtp import SmtpSettings, SmtpUrlError

    url = (settings.smtp_url or "sandbox").strip()
    try:
        smtp = SmtpSettings.from_url(url)
    except SmtpUrlError:
        return None
    if smtp.sandbox:
        port = engine_facts.get("sandbox_port")
        return smtp.with_port(int(port)) if port else None
    return smtp


def engine_relay_for(through_relay: bool, flow: Flow, settings: AppSettings, engine_facts: dict[str, Any],
                     options: EngineOptions, tracking_port: int | None,
                     running_real: list[int]) -> tuple[Optional[str], str]:
    """The relay URL the engine must run with for this real run ("" local only), or None and why not.

    The engine serves one public tracking address at a time (the relay, or this computer), so
    a run of the other kind while a real campaign still runs would move that campaign's next
    links: refused, as is a local-only run that a real inbox would refuse (no https address).
    """
    wanted = settings.relay_url.strip().rstrip("/") if through_relay else ""
    if through_relay and not wanted:
        return None, "Set the relay's URL in Settings first, or choose Local only."
    if not through_relay:
        facts = {k: v for k, v in engine_facts.items() if k != "tracking"}  # the engine's may be the relay
        problem = run_target(flow, replace(settings, relay_url=""), facts, replace(options, relay_url=""),
                             tracking_port).problem
        if problem:
            return None, f"Not sending local only: {problem}."
    if wanted != options.relay_url and running_real:
        where = f"through the relay at {options.relay_url}" if options.relay_url else "local only"
        return None, (f"Campaign {running_real[0]} runs {where}; the engine tracks one way at a time. "
                      "Choose the same in the Run dialog, or stop that campaign first.")
    return wanted, ""

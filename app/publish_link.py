"""Which running campaign the editor's flow is an edit of (SEMANTICS 11 and 12).

Two campaigns can run flows of the same name (a copy of a file, a second
run of a template), so the name alone is a guess. When the app starts a
campaign from the editor's flow, the flow records that campaign's
world-unique id in its top-level ``campaigns`` list; a campaign's 'Changes
not published' bar shows only for a flow that lists it. The list is
bookkeeping, not an edit: it is not an undo step and does not by itself ask
to save the file (starting a campaign would otherwise leave every flow
"modified"); the file keeps it from its next save, which fixing the flow
brings. A flow that lists no campaign (a file written before, or not saved
since) is matched by its name, and publishing from it links it to the
campaign it changed.

The list is the file's, not the campaign's: it is left out when a flow is
compared with the running one, published, or sent to the engine to run.
"""

from __future__ import annotations

from typing import Any, Optional

from engine.flow.fileformat import dumps_flow
from engine.flow.model import Flow

#: The flow file's top-level field: uids of the campaigns started from it.
LINK = "campaigns"


def linked(flow: Flow) -> list[str]:
    uids = flow.extra.get(LINK)
    return [u for u in uids if isinstance(u, str)] if isinstance(uids, list) else []


def without_link(data: dict[str, Any]) -> dict[str, Any]:
    """A flow file's data as a campaign runs it: without the list of campaigns."""
    return {k: v for k, v in data.items() if k != LINK}


def flow_text(flow: Flow) -> str:
    """The flow as the engine would run it, to compare an edit with the running version."""
    if LINK not in flow.extra:
        return dumps_flow(flow)
    copy = flow.copy()
    copy.extra.pop(LINK, None)
    return dumps_flow(copy)


def edits_campaign(flow: Flow, running: Flow, uid: Optional[str]) -> bool:
    """Is ``flow`` (the editor's) an edit of the campaign ``uid`` running ``running``?"""
    uids = linked(flow)
    if uids:
        return uid is not None and uid in uids
    return flow.name == running.name


def link_document(doc: Any, uid: str) -> None:
    """Record in the editor's flow that campaign ``uid`` was started from (or published from) it."""
    uids = linked(doc.flow)
    if uid and uid not in uids:
        doc.flow.extra[LINK] = [*uids, uid]


async def link_started(doc: Any, client: Any, campaign_id: int) -> None:
    """After starting a campaign from the editor's flow: link the flow to it."""
    from app.client import EngineError

    try:
        uid = (await client.figures(campaign_id)).get("uid")
    except EngineError:  # the campaign runs all the same; its bar then goes by the name
        return
    if uid:
        link_document(doc, uid)

"""The app's side of the engine's control API (``engine/control/server.py``).

Async (aiohttp), so it runs on the Qt event loop through qasync. Every call
raises ``EngineError`` with the engine's own sentence when it refuses, and
``EngineUnavailable`` when the process cannot be reached at all.
"""

from __future__ import annotations

import json
from typing import Any, Optional
from urllib.parse import quote

import aiohttp


class EngineError(RuntimeError):
    """The engine refused a request; ``str()`` is a message for the user."""


class EngineUnavailable(EngineError):
    """The engine process does not answer."""


class EngineClient:
    def __init__(self, port: int, secret: str, timeout: float = 10.0) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None

    async def _request(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, headers={"Authorization": f"Bearer {self.secret}"})
        try:
            async with self._session.request(method, self.base + path,
                                             data=None if body is None else json.dumps(body),
                                             headers={"Content-Type": "application/json"}) as response:
                text = await response.text()
                if response.status >= 400:
                    try:
                        message = json.loads(text).get("error", text)
                    except ValueError:
                        message = text
                    raise EngineError(message)
                return text if raw else json.loads(text or "null")
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise EngineUnavailable(f"the engine does not answer ({exc.__class__.__name__})") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the API -----------------------------------------------------------
    async def health(self) -> dict:
        return await self._request("GET", "/health")

    async def campaigns(self) -> list[dict]:
        return await self._request("GET", "/campaigns")

    async def start_campaign(self, flow: dict, leads: list[dict], *, simulated: bool, speed: float = 3600.0,
                             name: Optional[str] = None) -> int:
        data = await self._request("POST", "/campaigns", {"flow": flow, "leads": leads, "simulated": simulated,
                                                         "speed": speed, "name": name})
        return data["id"]

    async def figures(self, campaign_id: int) -> dict:
        """Per-node counts, edges, state, times, outbox status, finished leads."""
        return await self._request("GET", f"/campaigns/{campaign_id}")

    async def pause(self, campaign_id: int) -> None:
        await self._request("POST", f"/campaigns/{campaign_id}/pause", {})

    async def resume(self, campaign_id: int) -> None:
        await self._request("POST", f"/campaigns/{campaign_id}/resume", {})

    async def set_speed(self, campaign_id: int, speed: float) -> None:
        await self._request("POST", f"/campaigns/{campaign_id}/speed", {"speed": speed})

    async def skip_to_next_timer(self, campaign_id: int) -> Optional[int]:
        return (await self._request("POST", f"/campaigns/{campaign_id}/skip", {}))["now"]

    async def stop_campaign(self, campaign_id: int) -> None:
        await self._request("POST", f"/campaigns/{campaign_id}/stop", {})

    async def leads(self, campaign_id: int, offset: int = 0, limit: int = 200, query: str = "") -> dict:
        from urllib.parse import quote

        return await self._request("GET", f"/campaigns/{campaign_id}/leads?offset={offset}&limit={limit}"
                                          f"&q={quote(query)}")

    async def timeline(self, campaign_id: int, lead: str) -> dict:
        from urllib.parse import quote

        return await self._request("GET", f"/campaigns/{campaign_id}/leads/{quote(lead, safe='')}")

    async def fire_event(self, campaign_id: int, lead: str, email: str, kind: str,
                         url: Optional[str] = None, machine: bool = False) -> bool:
        """A simulated open or click of ``email`` (a node id) by ``lead`` (its key or address);
        ``machine``: made by a privacy proxy or link scanner, which conditions ignore by default."""
        data = await self._request("POST", f"/campaigns/{campaign_id}/events",
                                   {"lead": lead, "email": email, "type": kind,
                                    "url": url if kind == "click" else None, "machine": machine})
        return bool(data["recorded"])

    async def convert(self, campaign_id: int, lead: str) -> dict:
        """Mark a lead converted (a purchase off email); returns the recorded event."""
        return (await self._request("POST", f"/campaigns/{campaign_id}/events",
                                    {"lead": lead, "type": "convert"}))["event"]

    async def convert_csv(self, campaign_id: int, csv_text: str) -> dict:
        """Conversions for every lead key in a CSV: ``recorded``, ``rejected`` rows (line, reason), ``summary``."""
        return await self._request("POST", f"/campaigns/{campaign_id}/conversions", {"csv": csv_text})

    async def series(self, campaign_id: int) -> dict:
        return await self._request("GET", f"/campaigns/{campaign_id}/series")

    async def export_csv(self, campaign_id: int, per: str = "lead") -> str:
        return await self._request("GET", f"/campaigns/{campaign_id}/export?per={per}", raw=True)

    async def mailbox(self, limit: int = 100, offset: int = 0) -> list[dict]:
        return await self._request("GET", f"/mailbox?limit={limit}&offset={offset}")

    async def message(self, message_id: int) -> dict:
        return await self._request("GET", f"/mailbox/{message_id}")

    async def suppressions(self, search: str = "", offset: int = 0, limit: int = 500) -> dict:
        return await self._request("GET", f"/suppressions?q={quote(search, safe='')}&offset={offset}&limit={limit}")

    async def suppress(self, emails: list[str], note: Optional[str] = None) -> dict:
        return await self._request("POST", "/suppressions", {"emails": emails, "note": note})

    async def unsuppress(self, emails: list[str]) -> list[str]:
        return (await self._request("POST", "/suppressions/remove", {"emails": emails}))["removed"]

    async def export_suppressions(self) -> str:
        return await self._request("GET", "/suppressions/export", raw=True)

    async def import_suppressions(self, csv_text: str) -> dict:
        return await self._request("POST", "/suppressions/import", {"csv": csv_text})

    # -- changing a running campaign (SEMANTICS 11) -------------------------
    async def preview_version(self, campaign_id: int, flow: dict, mapping: Optional[dict] = None) -> dict:
        """What publishing ``flow`` would do to the leads in flight, node by node."""
        return await self._request("POST", f"/campaigns/{campaign_id}/versions/preview",
                                   {"flow": flow, "map": mapping or {}})

    async def publish_version(self, campaign_id: int, flow: dict, mapping: Optional[dict] = None,
                              note: Optional[str] = None, base_version: Optional[int] = None) -> dict:
        return await self._request("POST", f"/campaigns/{campaign_id}/versions",
                                   {"flow": flow, "map": mapping or {}, "note": note, "base_version": base_version})

    async def versions(self, campaign_id: int) -> list[dict]:
        return await self._request("GET", f"/campaigns/{campaign_id}/versions")

    async def version(self, campaign_id: int, number: int) -> dict:
        """One version, read-only: its flow, when it was published, its note."""
        return await self._request("GET", f"/campaigns/{campaign_id}/versions/{number}")

    async def rollback(self, campaign_id: int, number: int, mapping: Optional[dict] = None) -> dict:
        return await self._request("POST", f"/campaigns/{campaign_id}/versions/{number}/rollback",
                                   {"map": mapping or {}})

    async def shutdown(self) -> None:
        await self._request("POST", "/shutdown", {})

"""The control API's contract: bad requests are 400s naming the field, bugs are logged 500s,
and an event sent through the API is stored exactly as `mailbranch event` stores it."""

import asyncio
import json
import logging

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from typer.testing import CliRunner

from engine.cli import app as cli_app
from engine.control.server import build_app
from engine.control.service import EngineService
from engine.delivery.smtp import SmtpSettings
from engine.runtime.runner import RunnerSettings
from engine.store.database import Database
from engine.store.models import Event, Lead
from tests.conftest import FLOWS

SECRET = "s3cret-for-this-launch-only-0123456789"
AUTH = {"Authorization": f"Bearer {SECRET}"}


def service_for(tmp_path) -> EngineService:
    return EngineService(Database(tmp_path / "engine.db"),
                         RunnerSettings(SmtpSettings.from_url("sandbox"), grace_ms=0, poll_seconds=0.05))


async def _answers(service: EngineService, requests: list[tuple]) -> list[tuple[int, dict]]:
    async with TestClient(TestServer(build_app(service, SECRET, lambda: None))) as client:
        answers = []
        for method, path, body in requests:
            kwargs = {"data": body} if isinstance(body, (str, bytes)) else {"json": body}
            async with client.request(method, path, headers=AUTH, **kwargs) as r:
                answers.append((r.status, await r.json()))
        return answers


def test_each_route_refuses_a_bad_request_with_a_400_that_names_the_field(tmp_path):
    flow = json.loads((FLOWS / "flow-a.json").read_text())
    cases = [
        ("POST", "/campaigns", {"leads": []}, "flow", "required"),
        ("POST", "/campaigns", {"flow": "flow-a.json"}, "flow", "JSON object"),
        ("POST", "/campaigns", {"flow": flow, "leads": [{"key": "a"}, {"email": "b@example.com"}]},
         "leads[1].key", "required"),
        ("POST", "/campaigns", {"flow": flow, "speed": -3}, "speed", "positive number"),
        ("POST", "/campaigns", {"flow": flow, "leads": [{"key": "a" * 321}]}, "leads[0].key", "at most 320"),
        ("POST", "/campaigns", {"flow": flow, "leads": [{"key": "a\x00b"}]}, "leads[0].key", "NUL"),
        ("POST", "/campaigns", {"flow": flow, "simulated": "yes"}, "simulated", "true or false"),
        ("POST", "/campaigns", "[1, 2", "body", "not valid JSON"),
        ("POST", "/campaigns", [flow], "body", "JSON object"),
        ("POST", "/campaigns", b'{"flow": "\xff"}', "body", "not UTF-8"),
        ("POST", "/suppressions/import", b"email\n\xfe@example.com\n", "body", "not UTF-8"),
        ("POST", "/campaigns/1/speed", {"speed": "fast"}, "speed", "positive number"),
        ("POST", "/campaigns/1/speed", {}, "speed", "required"),
        ("POST", "/campaigns/1/events", {"email": "e1", "type": "open"}, "lead", "required"),
        ("POST", "/campaigns/1/events", {"lead": "ana", "type": "open"}, "email", "required"),
        ("POST", "/campaigns/1/events", {"lead": "ana", "type": "bounce"}, "type", "open, click or convert"),
        ("POST", "/campaigns/1/events", {"lead": "ana", "type": "convert", "machine": True}, "machine",
         "only opens and clicks"),
        ("POST", "/campaigns/1/events", {"lead": "ana", "email": "e1", "type": "open", "machine": 1}, "machine",
         "true or false"),
        ("POST", "/campaigns/1/events", {"lead": 7, "email": "e1", "type": "open"}, "lead", "must be text"),
        ("POST", "/campaigns/1/conversions", {"keys": ["ana"]}, "csv", "required"),
        ("GET", "/campaigns/1/leads?offset=first", None, "offset", "whole number"),
        ("GET", "/campaigns/1/export?per=week", None, "per", "lead or node"),
        ("GET", "/mailbox?limit=-1", None, "limit", "between 0 and"),
        ("GET", "/suppressions?limit=lots", None, "limit", "whole number"),
        ("POST", "/suppressions", {"note": "asked by phone"}, "emails", "required"),
        ("POST", "/suppressions/remove", {"emails": ["a@example.com", 5]}, "emails[1]", "must be text"),
        ("POST", "/suppressions/import", {"csv": 5}, "csv", "must be text"),
    ]
    answers = asyncio.run(_answers(service_for(tmp_path), [(m, p, b) for m, p, b, _f, _w in cases]))
    for (method, path, _body, field, words), (status, data) in zip(cases, answers, strict=True):
        assert status == 400, (method, path, status, data)
        assert data["field"] == field and data["error"].startswith(f'"{field}": ') and words in data["error"], \
            (method, path, data)


def test_an_unexpected_exception_is_a_500_and_is_logged(tmp_path, caplog):
    service = service_for(tmp_path)

    def broken():
        raise KeyError("outboxes")

    service.health = broken
    with caplog.at_level(logging.ERROR, logger="mailbranch.control"):
        [(status, data)] = asyncio.run(_answers(service, [("GET", "/health", None)]))
    assert status == 500 and "engine's log" in data["error"] and "outboxes" not in data["error"]
    [record] = [r for r in caplog.records if r.name == "mailbranch.control"]
    assert "GET /health" in record.getMessage() and record.exc_info[0] is KeyError


def test_the_api_and_the_cli_store_the_same_event_and_conversions_once_per_call(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    flow = json.loads((FLOWS / "flow-a.json").read_text())

    async def scenario():
        service = service_for(tmp_path)
        await service.start()
        try:
            async with TestClient(TestServer(build_app(service, SECRET, lambda: None))) as http:
                async def call(method, path, body=None):
                    async with http.request(method, path, headers=AUTH, json=body) as r:
                        return r.status, await r.json()

                status, data = await call("POST", "/campaigns", {
                    "flow": flow, "simulated": True, "speed": 1,
                    "leads": [{"key": "ana", "email": "ana@example.com"}, {"key": "ben", "email": "ben@example.com"}]})
                assert status == 201
                campaign = data["id"]
                for _ in range(200):
                    _status, figures = await call("GET", f"/campaigns/{campaign}")
                    if figures["nodes"]["e1"]["sent"] == 2:
                        break
                    await asyncio.sleep(0.05)
                assert (await call("POST", f"/campaigns/{campaign}/pause"))[0] == 200
                now = (await call("GET", f"/campaigns/{campaign}"))[1]["now"]
                status, data = await call("POST", f"/campaigns/{campaign}/events",
                                          {"lead": "ana", "email": "e1", "type": "open", "machine": True})
                assert status == 200 and data["event"]["machine"] is True and data["event"]["at"] == now
                # The same event from the command line, the lead named by address.
                done = await asyncio.to_thread(CliRunner().invoke, cli_app, [
                    "event", "open", "--db", str(tmp_path / "engine.db"), "--campaign", str(campaign),
                    "--lead", "ana@example.com", "--email", "e1", "--machine"])
                assert done.exit_code == 0, done.output
                status, data = await call("POST", f"/campaigns/{campaign}/events", {"lead": "ben", "type": "convert"})
                assert status == 200 and data["event"]["lead"] == "ben" and data["event"]["at"] == now
                status, data = await call("POST", f"/campaigns/{campaign}/conversions",
                                          {"csv": "key\nana\nnobody\n"})
                assert status == 200 and data["recorded"] == 1 and data["leads"] == ["ana"]
                assert data["rejected"] == [{"line": 3, "reason": f"campaign {campaign} has no lead “nobody”"}]
                status, data = await call("POST", f"/campaigns/{campaign}/events",
                                          {"lead": "nobody", "email": "e1", "type": "open"})
                assert status == 400 and "nobody" in data["error"]
                status, timeline = await call("GET", f"/campaigns/{campaign}/leads/ana%40example.com")
                assert status == 200 and timeline["lead"] == "ana"
        finally:
            await service.stop()

    asyncio.run(scenario())
    with Database(tmp_path / "engine.db").session() as s:
        keys = dict(s.execute(select(Lead.id, Lead.key)).all())
        rows = [(e.type, keys[e.lead_id], e.lead_key, e.node, e.send_id, e.url, e.machine, e.source)
                for e in s.execute(select(Event).where(Event.type.in_(("open", "convert"))).order_by(Event.id))
                .scalars()]
    opens = [r for r in rows if r[0] == "open"]
    assert len(opens) == 2 and opens[0] == opens[1] and opens[0][:4] == ("open", "ana", "ana", "e1")
    assert opens[0][6] is True
    assert [r[:2] for r in rows if r[0] == "convert"] == [("convert", "ben"), ("convert", "ana")]


def test_loopback_secret_still_guards_every_route(tmp_path):
    async def scenario():
        async with TestClient(TestServer(build_app(service_for(tmp_path), SECRET, lambda: None))) as client:
            async with client.post("/campaigns/1/events", json={"lead": "ana", "type": "convert"}) as r:
                return r.status

    assert asyncio.run(scenario()) == 403



def test_the_apps_client_sends_machine_events_and_conversions_and_shows_the_engines_sentence(tmp_path, monkeypatch):
    from app.client import EngineClient, EngineError
    from engine.control.server import ControlServer

    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    flow = json.loads((FLOWS / "flow-a.json").read_text())

    async def scenario():
        service = service_for(tmp_path)
        server = ControlServer(service, SECRET)
        await service.start()
        await server.start()
        client = EngineClient(server.port, SECRET)
        try:
            campaign = await client.start_campaign(flow, [{"key": "ana", "email": "ana@example.com"},
                                                          {"key": "ben", "email": "ben@example.com"}],
                                                   simulated=True, speed=1)
            for _ in range(200):
                if (await client.figures(campaign))["nodes"]["e1"]["sent"] == 2:
                    break
                await asyncio.sleep(0.05)
            assert await client.fire_event(campaign, "ana", "e1", "open", machine=True)
            assert (await client.convert(campaign, "ben@example.com"))["lead"] == "ben"
            report = await client.convert_csv(campaign, "key,email\nana,a@example.com\n\n,b@example.com\n")
            assert report["recorded"] == 1 and report["rejected"][0]["line"] == 4
            try:
                await client.fire_event(campaign, "ana", "", "open")
            except EngineError as exc:
                refused = str(exc)
            leads = await client.leads(campaign)
        finally:
            await client.close()
            await server.stop()
            await service.stop()
        return refused, leads

    refused, leads = asyncio.run(scenario())
    assert refused == '"email": required (the email node the event is about)'
    assert [x["key"] for x in leads["leads"]] == ["ana", "ben"] and "converted_at" in leads["leads"][0]
    with Database(tmp_path / "engine.db").session() as s:
        stored = s.execute(select(Event.type, Event.lead_key, Event.machine).where(Event.type != "delivered")
                           .order_by(Event.id)).all()
    assert [tuple(r) for r in stored if r[0] in ("open", "convert")] == [
        ("open", "ana", True), ("convert", "ben", False), ("convert", "ana", False)]

"""Events from outside: `mailbranch event` (open, click, convert, --machine, --csv) and the
simulation's events file, through the one injection module (engine/control/campaigns.py)."""

import json

from sqlalchemy import select
from typer.testing import CliRunner

from engine.cli import app
from engine.control import campaigns
from engine.control.requests import EventCommand
from engine.flow.fileformat import loads_flow
from engine.run.clock import SimulatedClock, SystemClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.store.database import Database
from engine.store.models import Event, Lead, Token
from tests.conftest import FLOWS

T0 = 1_767_225_600_000
HOUR = 3_600_000
runner = CliRunner()


def campaign_after_e1(tmp_path, delivery: str = "simulated"):
    """Flow A with ana and ben, played to 1 h: e1 sent to both, both waiting in w1 (3 d)."""
    db = Database(tmp_path / "campaign.db")
    db.migrate()
    flow = loads_flow((FLOWS / "flow-a.json").read_text())
    engine = CampaignEngine.create(db, flow, SimulatedClock(T0), delivery=delivery)
    engine.enroll([LeadInput("ana", "Ana@Example.com"), LeadInput("ben", "ben@example.com")])
    engine.clock.reach(T0 + HOUR)
    engine.run_to_end(T0 + HOUR)
    return db, engine


def events(db, kind=None):
    with db.session() as s:
        stmt = select(Event).order_by(Event.id)
        if kind:
            stmt = stmt.where(Event.type == kind)
        return [(e.type, e.lead_key, e.node, e.send_id is not None, e.url, e.machine, e.state, e.at)
                for e in s.execute(stmt).scalars()]


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_cli_open_click_and_machine_flag_are_recorded_for_the_lead_by_key_or_address(tmp_path):
    db, engine = campaign_after_e1(tmp_path)
    path, cid = tmp_path / "campaign.db", engine.campaign_id
    before = SystemClock().now()
    done = cli("event", "open", "--db", path, "--campaign", cid, "--lead", "ana", "--email", "e1", "--machine")
    assert done.exit_code == 0, done.output
    assert "machine open of e1 by ana" in done.output
    # By address, in any case: the same lead.
    done = cli("event", "click", "--db", path, "--campaign", cid, "--lead", "ANA@example.com", "--email", "e1",
               "--url", "https://shop.example/offer")
    assert done.exit_code == 0, done.output
    rows = events(db)
    assert [r[:7] for r in rows] == [("open", "ana", "e1", True, None, True, "pending"),
                                     ("click", "ana", "e1", True, "https://shop.example/offer", False, "pending")]
    assert all(before <= r[7] <= SystemClock().now() for r in rows)


def test_cli_refuses_what_it_cannot_record_with_a_sentence(tmp_path):
    db, engine = campaign_after_e1(tmp_path)
    path, cid = tmp_path / "campaign.db", engine.campaign_id
    cases = [
        (("event", "open", "--db", path, "--campaign", cid, "--lead", "nobody", "--email", "e1"), 1,
         "has no lead “nobody”"),
        (("event", "open", "--db", path, "--campaign", cid, "--lead", "ana", "--email", "e3"), 1,
         "has not been sent “e3”"),
        (("event", "open", "--db", path, "--campaign", cid, "--lead", "ana"), 2, "--email: required"),
        (("event", "convert", "--db", path, "--campaign", cid, "--lead", "ana", "--machine"), 2,
         "--machine: only opens and clicks"),
        (("event", "bounce", "--db", path, "--lead", "ana"), 2, "open, click or convert"),
        (("event", "convert", "--db", path, "--campaign", 99, "--lead", "ana"), 1, "no campaign 99"),
        (("event", "convert", "--db", path), 2, "--lead"),
        (("event", "open", "--db", path, "--csv", tmp_path / "x.csv"), 2, "--csv is for conversions"),
    ]
    for args, code, words in cases:
        done = cli(*args)
        assert done.exit_code == code and words in done.output, (args, done.output)
    assert events(db) == []


def test_a_conversion_is_recorded_once_per_call_for_the_right_lead_at_the_right_time(tmp_path):
    db, engine = campaign_after_e1(tmp_path)
    before = SystemClock().now()
    done = cli("event", "convert", "--db", tmp_path / "campaign.db", "--campaign", engine.campaign_id,
               "--lead", "ben")
    assert done.exit_code == 0, done.output
    assert "Recorded the conversion of ben" in done.output
    rows = events(db, "convert")
    assert [r[:7] for r in rows] == [("convert", "ben", None, False, None, False, "pending")]
    assert before <= rows[0][7] <= SystemClock().now()
    with db.session() as s:
        ben = s.execute(select(Lead.id).where(Lead.key == "ben")).scalar()
        assert s.execute(select(Event.lead_id).where(Event.type == "convert")).scalar() == ben
    # A second call is a second request: recorded again (the engine makes it change nothing).
    recorded = campaigns.inject(db, engine.campaign_id, EventCommand("convert", "ben"), T0 + 2 * HOUR, 0)
    assert recorded.lead == "ben" and recorded.at == T0 + 2 * HOUR and recorded.type == "convert"
    assert len(events(db, "convert")) == 2


def test_a_csv_of_conversions_records_the_good_rows_and_names_the_bad_lines(tmp_path):
    db, engine = campaign_after_e1(tmp_path)
    sheet = tmp_path / "purchases.csv"
    sheet.write_text("email,Key\nx@example.com,ana\ny@example.com,\nz@example.com,nobody\n\n"
                     "w@example.com,ana\nv@example.com,ben\n", encoding="utf-8")
    done = cli("event", "convert", "--db", tmp_path / "campaign.db", "--campaign", engine.campaign_id,
               "--csv", sheet)
    assert done.exit_code == 0, done.output
    assert "line 3" in done.output and "no lead key" in done.output
    assert "line 4" in done.output and "no lead “nobody”" in done.output
    assert "line 6" in done.output and "already on line 2" in done.output
    assert "2 conversions recorded, 3 rows refused" in done.output
    assert sorted(r[1] for r in events(db, "convert")) == ["ana", "ben"]
    # Without a key column the keys are in the first column; a file of only bad rows records nothing.
    sheet.write_text("customer\nnobody\n", encoding="utf-8")
    done = cli("event", "convert", "--db", tmp_path / "campaign.db", "--campaign", engine.campaign_id,
               "--csv", sheet)
    assert done.exit_code == 1 and "line 2" in done.output and "0 conversions recorded" in done.output
    assert len(events(db, "convert")) == 2


def test_the_newest_sending_campaign_is_the_default(tmp_path):
    db, _simulated = campaign_after_e1(tmp_path)
    done = cli("event", "convert", "--db", tmp_path / "campaign.db", "--lead", "ana")
    assert done.exit_code == 1 and "no running campaign" in done.output
    flow = loads_flow((FLOWS / "flow-a.json").read_text())
    real = CampaignEngine.create(db, flow, SystemClock(), delivery="real")
    real.enroll([LeadInput("ana", "ana@example.com")])
    done = cli("event", "convert", "--db", tmp_path / "campaign.db", "--lead", "ana")
    assert done.exit_code == 0, done.output
    with db.session() as s:
        assert s.execute(select(Event.campaign_id).where(Event.type == "convert")).scalar() == real.campaign_id


def test_after_the_engine_plays_a_conversion_the_lead_is_converted_and_gets_nothing_more(tmp_path):
    """Needs the engine's side of SEMANTICS 10 (engine/run)."""
    db, engine = campaign_after_e1(tmp_path)
    campaigns.inject(db, engine.campaign_id, EventCommand("convert", "ana"), T0 + 2 * HOUR, 0)
    engine.run_to_end()
    with db.session() as s:
        converted = dict(s.execute(select(Lead.key, Lead.converted_at)).all())
        ana_tokens = s.execute(select(Token.state).join(Lead, Lead.id == Token.lead_id)
                               .where(Lead.key == "ana")).scalars().all()
    assert converted == {"ana": T0 + 2 * HOUR, "ben": None}
    assert ana_tokens and all(state == "finished" for state in ana_tokens)


def test_the_simulation_events_file_takes_machine_events_and_stays_strict(tmp_path):
    lines = [{"at": "1h", "lead": "lead-1", "type": "open", "email": "e1", "machine": True},
             {"at": "2h", "lead": "lead-2", "type": "open", "email": "e1"}]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    db_path = tmp_path / "sim.db"
    done = cli("simulate", FLOWS / "flow-a.json", "--leads", 2, "--events", path, "--db", db_path, "--json")
    assert done.exit_code == 0, done.output
    with Database(db_path).session() as s:
        stored = dict(s.execute(select(Event.lead_key, Event.machine).where(Event.type == "open")).all())
    assert stored == {"lead-1": True, "lead-2": False}
    for bad, words in ((dict(lines[0], machine="yes"), "line 1: 'machine' must be true or false"),
                       ({"at": "1h", "lead": "lead-1", "type": "convert", "machine": True},
                        "line 1: 'machine' is for opens and clicks")):
        path.write_text(json.dumps(bad), encoding="utf-8")
        done = cli("simulate", FLOWS / "flow-a.json", "--leads", 2, "--events", path)
        assert done.exit_code == 2 and words in done.output, done.output

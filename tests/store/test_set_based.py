"""On PostgreSQL many rows of an engine statement go as one statement over arrays
(``engine/store/set_based.py``): it must change the same rows, to the same values,
and count the same hits as running it row by row."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.run.batch_statements import INSERT_TOKEN, UPDATE_TOKEN, UPDATE_WAIT
from engine.run.clock import SimulatedClock
from engine.run.engine import CampaignEngine, LeadInput
from engine.store import set_based as set_based_rows
from engine.store.bulk import execute_many
from engine.store.models import Token, Wait
from engine.store.set_based import set_based
from engine.store.statements import BUILT
from tests.conftest import fresh_database
from tests.versions.support import DRIP, T0, flow


def test_every_generated_insert_and_update_has_a_twin_that_postgresql_accepts(tmp_path):
    db = fresh_database("postgresql", tmp_path)
    twins = {b.text: set_based(b.text) for b in BUILT if b.text.startswith(("INSERT INTO", "UPDATE"))}
    assert twins[INSERT_TOKEN] is not None and twins[UPDATE_TOKEN] is not None and twins[UPDATE_WAIT] is not None
    refused = []
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for plain, twin in twins.items():
            if twin is None:
                continue
            try:
                cursor.execute("EXPLAIN " + twin.text.replace("?", "%s"), (None,) * twin.text.count("?"))
                cursor.fetchall()
            except Exception as exc:  # noqa: BLE001 - reported with its statement
                refused.append(f"{plain}\n  -> {twin.text}\n  -> {str(exc).splitlines()[0]}")
                raw.rollback()
    finally:
        raw.close()
        db.dispose()
    assert refused == []


def test_a_statement_of_another_shape_has_no_twin():
    assert set_based("UPDATE sends SET status=? WHERE sends.id IN (?*)") is None
    assert set_based("INSERT INTO waits (id, node) SELECT id, node FROM tokens") is None
    # Run twice for one row, this adds two: set-based it would add one.
    assert set_based("UPDATE sends SET soft_bounces = COALESCE(soft_bounces, 0) + 1 WHERE id = ?") is None


@pytest.fixture
def every_row_set_based(monkeypatch):
    monkeypatch.setattr(set_based_rows, "SET_BASED_MIN", 1)


def _run(db) -> tuple:
    engine = CampaignEngine.create(db, flow(DRIP), SimulatedClock(T0))
    engine.enroll([LeadInput(f"lead{i}", f"lead{i}@example.com") for i in range(30)])
    engine.run_to_end()
    with db.session() as s:
        tokens = sorted(s.execute(select(Token.lead_id, Token.node, Token.state, Token.tracked, Token.version)).all())
        waits = sorted(s.execute(select(Wait.lead_id, Wait.node, Wait.state, Wait.fired_at)).all())
    return tokens, waits


def test_a_campaign_written_set_based_ends_as_one_written_row_by_row(tmp_path, every_row_set_based):
    row_by_row = _run(fresh_database("sqlite", tmp_path))
    db = fresh_database("postgresql", tmp_path)
    try:
        assert _run(db) == row_by_row
        assert all(state == "finished" for _lead, _node, state, _tracked, _v in row_by_row[0])
    finally:
        db.dispose()


def test_a_compare_and_set_counts_only_the_rows_still_as_loaded(tmp_path, every_row_set_based):
    db = fresh_database("postgresql", tmp_path)
    engine = CampaignEngine.create(db, flow(DRIP), SimulatedClock(T0))
    engine.enroll([LeadInput(f"lead{i}", f"lead{i}@example.com") for i in range(3)])
    engine.run_to_end(T0)
    try:
        with db.session() as s:
            ids = sorted(s.execute(select(Wait.id).where(Wait.state == "pending")).scalars())
            assert len(ids) == 3
            assert execute_many(s, UPDATE_WAIT, [("fired", T0, ids[0])]) == 1
            # One of three has already moved on: two hits, and that one keeps what it had.
            assert execute_many(s, UPDATE_WAIT, [("revoked", T0 + 1, i) for i in ids]) == 2
            states = dict(s.execute(select(Wait.id, Wait.fired_at)).all())
            assert states[ids[0]] == T0 and states[ids[1]] == states[ids[2]] == T0 + 1
    finally:
        db.dispose()


def test_array_literals_carry_any_text_and_number_back_unchanged(tmp_path):
    from engine.store.set_based import _literal

    texts = ['{"a": "b,c"}', 'say "hi"', "back\\slash", "NULL", "", "{}", "é ✓", None, "a\nb"]
    plain = ["a,b", "{c}", "", "NULL", "é ✓ x"]  # no quote, backslash or NULL: the quick way
    numbers = [0, -1, 2**62, None]
    db = fresh_database("postgresql", tmp_path)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT %s::TEXT[], %s::BIGINT[], %s::BOOLEAN[], %s::TEXT[]",
                       (_literal(texts, "TEXT"), _literal(numbers, "BIGINT"), _literal([True, None, 0], "BOOLEAN"),
                        _literal(plain, "TEXT")))
        assert cursor.fetchone() == (texts, numbers, [True, None, False], plain)
    finally:
        raw.close()
        db.dispose()

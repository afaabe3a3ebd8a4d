"""Upgrades lose nothing: a database made by release 0.1 opens, keeps its rows
and finishes its campaign; a newer one is refused untouched; the revisions
and the models never disagree.

``tests/fixtures/release-0.1.sqlite`` was made by release 0.1 (commit
01f6c02): the sample flow for 20 leads, simulated to 1d, so it holds sends,
fired and pending waits, listeners, handled and pending events.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, inspect, select, text
from sqlalchemy.engine import Connection, Engine

from engine.run.clock import SimulatedClock
from engine.run.engine import CampaignEngine
from engine.store.database import Database
from engine.store.models import Campaign
from engine.store.schema import (
    RELEASE_0_1,
    SchemaError,
    alembic_config,
    current_revision,
    head,
    include_name,
    target_metadata,
)
from tests.conftest import FLOWS, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "release-0.1.sqlite"
MAILBRANCH = [sys.executable, "-m", "engine.cli"]
#: Where release 0.1's simulation of the fixture stopped: campaign start + 1 day.
FIXTURE_NOW = 1_767_225_600_000 + 86_400_000
#: Tables whose release-0.1 rows a migration must keep as they were (the rest move).
MOVED = {"unsubscribes"}


def release_copy(tmp_path: Path) -> Path:
    path = tmp_path / "campaign.db"
    path.write_bytes(FIXTURE.read_bytes())
    return path


def sqlite_engine(path: Path) -> Engine:
    return create_engine(f"sqlite+pysqlite:///{path}")


def release_rows(connection: Connection) -> dict[str, list[tuple]]:
    """Every row of release 0.1's tables, as release 0.1's columns, in a stable order."""
    fixture = MetaData()
    with sqlite_engine(FIXTURE).connect() as source:
        fixture.reflect(source)
    return {table.name: sorted((tuple(r) for r in connection.execute(select(*table.columns))), key=repr)
            for table in fixture.sorted_tables if table.name not in MOVED}


def fixture_rows() -> dict[str, list[tuple]]:
    with sqlite_engine(FIXTURE).connect() as connection:
        return release_rows(connection)


def differences(connection: Connection) -> list:
    """What Alembic's autogenerate would write to bring this database to the models."""
    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name})
    return compare_metadata(context, target_metadata())


def schema_of(connection: Connection) -> dict:
    """Tables, columns, keys and indexes as SQLAlchemy reflects them."""
    found = inspect(connection)
    schema = {}
    for table in sorted(set(found.get_table_names()) - {"alembic_version"}):
        schema[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)],
            "primary_key": found.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted((tuple(k["constrained_columns"]), k["referred_table"],
                                    tuple(k["referred_columns"])) for k in found.get_foreign_keys(table)),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in found.get_indexes(table)),
        }
    return schema


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MAILBRANCH, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def campaign_status(db_target: str) -> dict:
    done = cli("status", "--db", db_target, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["campaigns"][0]


def finish_campaign(db: Database) -> None:
    """Resume the simulated campaign where release 0.1 left it and play it to the end.

    No command resumes a simulation (``simulate`` always starts a new one), so
    this is the engine API the app's simulations use.
    """
    with db.session() as s:
        campaign_id = s.scalars(select(Campaign.id)).one()
    CampaignEngine(db, campaign_id, SimulatedClock(FIXTURE_NOW)).run_to_end()


def assert_finished(db_target: str) -> None:
    status = campaign_status(db_target)
    assert status["state"] == "complete" and status["complete_at"] is not None
    assert status["tokens_active"] == 0 and status["pending_waits"] == 0 and status["pending_events"] == 0
    assert status["leads"] == 20
    # Release 0.1 had sent 21 emails; the leads still waiting got the rest of the flow.
    assert sum(n["sent"] for n in status["nodes"].values()) > 21


# -- SQLite -------------------------------------------------------------------

def test_revision_0001_is_the_schema_release_0_1_made(tmp_path):
    engine = sqlite_engine(tmp_path / "at-0001.db")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), RELEASE_0_1)
    with engine.connect() as ours, sqlite_engine(FIXTURE).connect() as theirs:
        assert schema_of(ours) == schema_of(theirs)


def test_a_release_0_1_database_is_backed_up_migrated_and_finishes_its_campaign(tmp_path):
    path = release_copy(tmp_path)

    # Any command that opens the database upgrades it.
    status = campaign_status(str(path))
    assert status["state"] == "running" and status["leads"] == 20

    backups = sorted(tmp_path.glob("campaign.db.backup-0001-*"))
    assert len(backups) == 1
    assert backups[0].stat().st_mode & 0o777 == 0o600  # every lead's address: owner-only
    with sqlite_engine(backups[0]).connect() as backup:
        assert "alembic_version" not in inspect(backup).get_table_names()
        assert release_rows(backup) == fixture_rows()

    db = Database(path)
    with db.engine.connect() as connection:
        assert current_revision(connection) == head()
        assert release_rows(connection) == fixture_rows()
        assert differences(connection) == []
        uids = connection.execute(text("SELECT uid FROM campaigns")).scalars().all()
    assert len(uids) == 1 and len(uids[0]) >= 16

    # Opening again changes nothing and copies nothing.
    assert db.migrate().action == "current"
    assert len(list(tmp_path.glob("campaign.db.backup-*"))) == 1

    finish_campaign(db)
    db.dispose()
    assert_finished(str(path))


def test_downgrading_to_0001_gives_back_release_0_1s_schema_and_rows(tmp_path):
    """Mailbranch never downgrades on open; a developer going back to test an old
    release can, and the downgrade scripts must keep working for that."""
    path = release_copy(tmp_path)
    Database(path).migrate()
    engine = sqlite_engine(path)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), RELEASE_0_1)
    with engine.connect() as ours, sqlite_engine(FIXTURE).connect() as theirs:
        assert schema_of(ours) == schema_of(theirs)
        assert release_rows(ours) == fixture_rows()


def test_unsubscribed_addresses_move_to_the_suppression_list(tmp_path):
    path = release_copy(tmp_path)
    with sqlite_engine(path).begin() as connection:
        connection.execute(text("INSERT INTO unsubscribes (email, at, campaign_id) VALUES "
                                "('Ann@Example.com', 2000, 1), (' ann@example.com', 1000, NULL), "
                                "('bob@example.com', 3000, 1)"))
    db = Database(path)
    db.migrate()
    with db.engine.connect() as connection:
        uid = connection.execute(text("SELECT uid FROM campaigns")).scalar()
        rows = connection.execute(text("SELECT email, reason, at, campaign_uid FROM suppressions "
                                       "ORDER BY email")).all()
    db.dispose()
    # Two spellings of one address are one entry: the earliest unsubscribe.
    assert [tuple(r) for r in rows] == [("ann@example.com", "unsubscribe", 1000, None),
                                        ("bob@example.com", "unsubscribe", 3000, uid)]


def test_a_migration_that_fails_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    path = release_copy(tmp_path)
    real_upgrade = command.upgrade

    def upgrade_then_fail(config, revision):
        real_upgrade(config, revision)
        raise RuntimeError("the disk went away")

    monkeypatch.setattr("engine.store.schema.command.upgrade", upgrade_then_fail)
    db = Database(path)
    with pytest.raises(RuntimeError):
        db.migrate()
    with db.engine.connect() as connection:
        assert current_revision(connection) is None
        assert "unsubscribes" in inspect(connection).get_table_names()
        assert release_rows(connection) == fixture_rows()
    db.dispose()


def test_two_openers_at_once_migrate_once(tmp_path):
    path = release_copy(tmp_path)
    results, errors = [], []

    def open_it() -> None:
        try:
            db = Database(path)
            results.append(db.migrate().action)
            db.dispose()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == ["current", "current", "current", "migrated"]
    assert len(list(tmp_path.glob("campaign.db.backup-*"))) == 1


# -- both databases -----------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def empty_target(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "new.db")
    return request.getfixturevalue("pg_scratch_url")


def test_a_new_database_is_made_at_head(empty_target):
    db = Database(empty_target)
    result = db.migrate()
    assert (result.action, result.to_revision, result.backup) == ("created", head(), None)
    with db.engine.connect() as connection:
        assert current_revision(connection) == head()
        assert differences(connection) == []
    db.dispose()


def test_a_database_from_a_newer_version_is_refused_untouched(empty_target, tmp_path):
    db = Database(empty_target)
    db.migrate()
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        connection.execute(text("DELETE FROM campaigns"))
    with db.engine.connect() as connection:
        before = schema_of(connection)
    db.dispose()

    db = Database(empty_target)
    with pytest.raises(SchemaError, match="newer version of Mailbranch"):
        db.migrate()
    with db.engine.connect() as connection:
        assert current_revision(connection) == "9999"
        assert schema_of(connection) == before
    db.dispose()
    assert list(tmp_path.glob("*.backup-*")) == []

    # Commands that read a campaign, and those that run one, say the same sentence.
    for command_line in (["status", "--db", empty_target],
                         ["simulate", str(FLOWS / "sample.json"), "--leads", "3", "--db", empty_target]):
        done = cli(*command_line)
        assert done.returncode == 2, done.stderr
        assert "written by a newer version of Mailbranch (schema revision 9999)" in done.stderr
        assert "Traceback" not in done.stderr


def test_the_models_and_the_migrated_schema_agree(empty_target):
    """A model change without its revision fails here: autogenerate must find nothing to write."""
    if empty_target.startswith("postgresql"):
        engine = create_engine(Database(empty_target).url)
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), RELEASE_0_1)
    else:
        Path(empty_target).write_bytes(FIXTURE.read_bytes())
    db = Database(empty_target)
    assert db.migrate().action == "migrated"
    with db.engine.connect() as connection:
        assert differences(connection) == []
    db.dispose()


# -- PostgreSQL ---------------------------------------------------------------

def build_release_0_1_on_postgresql(url: str) -> None:
    """Release 0.1's tables (revision 0001, then no version table, as 0.1 left
    them) holding the fixture's rows, serial counters where 0.1 left them."""
    fixture = MetaData()
    with sqlite_engine(FIXTURE).connect() as source:
        fixture.reflect(source)
        rows = {t.name: [dict(r._mapping) for r in source.execute(t.select())] for t in fixture.sorted_tables}
    engine = create_engine(Database(url).url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), RELEASE_0_1)
        connection.execute(text("DROP TABLE alembic_version"))
        tables = MetaData()
        tables.reflect(connection)
        for table in tables.sorted_tables:
            if rows.get(table.name):
                connection.execute(table.insert(), rows[table.name])
            if "id" in table.columns and connection.execute(
                    text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar():
                connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                        f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"))
    engine.dispose()


def test_a_release_0_1_database_on_postgresql_is_migrated_and_finishes_its_campaign(pg_scratch_url):
    build_release_0_1_on_postgresql(pg_scratch_url)

    db = Database(pg_scratch_url)
    result = db.migrate()
    # PostgreSQL migrates in one transaction: no file to copy.
    assert (result.action, result.from_revision, result.to_revision, result.backup) == \
        ("migrated", RELEASE_0_1, head(), None)
    with db.engine.connect() as connection:
        assert release_rows(connection) == fixture_rows()
        assert differences(connection) == []

    finish_campaign(db)
    db.dispose()
    assert_finished(pg_scratch_url)


def test_workers_starting_at_once_on_postgresql_migrate_once(pg_scratch_url):
    build_release_0_1_on_postgresql(pg_scratch_url)
    results, errors = [], []

    def open_it() -> None:
        try:
            db = Database(pg_scratch_url)
            results.append(db.migrate().action)
            db.dispose()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == ["current", "current", "current", "migrated"]


def test_a_drafted_revision_follows_head_and_finds_nothing_to_change(tmp_path):
    """The developer's starting point for a schema change (docs/operations.md, "Upgrades")."""
    from engine.store.schema import draft_revision

    script = draft_revision("nothing new", tmp_path)
    source = script.read_text()
    assert script.parent == tmp_path and script.name.startswith(f"{int(head()) + 1:04d}_")
    assert f"down_revision: Optional[str] = {head()!r}" in source
    upgrade = source.split("def upgrade() -> None:", 1)[1].split("def downgrade", 1)[0]
    assert [line.strip() for line in upgrade.splitlines() if line.strip() and not line.strip().startswith("#")] \
        == ["pass"]

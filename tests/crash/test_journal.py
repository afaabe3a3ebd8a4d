"""The outcome journal: a 250 written down the instant it arrives is recorded
as sent after a kill, whatever else was lost, and never sent again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time

from engine.delivery.smtp import SmtpSettings
from engine.runtime.journal import OutcomeJournal, journal_dir, parse
from engine.store.database import Database

from .inprocess import query, runner, start, until


def test_a_torn_or_garbled_line_is_skipped_and_the_rest_is_read():
    data = b"12\t1000\t<a@x>\nnot a record\n13\t1001\t<b@x>\n14\t10"
    assert [(r.send_id, r.at, r.message_id) for r in parse(data)] == [(12, 1000, "<a@x>"), (13, 1001, "<b@x>")]


def test_the_journal_lives_beside_the_database_and_per_database_for_postgresql(tmp_path):
    assert journal_dir(f"sqlite+pysqlite:///{tmp_path}/c.db", tmp_path) == tmp_path / "c.db-outcomes"
    assert journal_dir("sqlite+pysqlite:///:memory:", tmp_path) is None
    one = journal_dir("postgresql+psycopg://u:secret@db.example/mb", tmp_path)
    assert one == journal_dir("postgresql+psycopg://u:other@db.example/mb", tmp_path)
    assert one != journal_dir("postgresql+psycopg://u:secret@db.example/other", tmp_path)
    assert "secret" not in str(one)


def test_only_the_files_of_dead_processes_are_folded(tmp_path):
    journal = OutcomeJournal(tmp_path / "j")
    live = journal.writer()
    live.record(1, 1000, "<live@x>")
    # A process killed with its journal open: only the kernel's lock goes with it.
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(os.getcwd())!r})
        from pathlib import Path
        from engine.runtime.journal import OutcomeJournal
        w = OutcomeJournal(Path({str(tmp_path / 'j')!r})).writer()
        w.record(2, 2000, "<dead@x>")
        w.record(3, 2001, "<dead2@x>")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", script], check=False)
    seen = []
    assert journal.fold(lambda records: seen.extend(records) or []) == 2
    assert [r.send_id for r in seen] == [2, 3]
    assert journal.fold(lambda records: seen.extend(records) or []) == 0  # folded once, then deleted
    assert journal.pending() == 1  # the live one, untouched
    live.close(committed=True)
    assert journal.pending() == 0


def test_a_journal_that_cannot_be_written_does_not_stop_sending(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    w = OutcomeJournal(blocker / "j").writer()
    w.record(1, 1000, "<a@x>")
    w.record(2, 1001, "<b@x>")
    w.close(committed=True)
    assert w.failed and w.written == 0
    assert [r.message for r in caplog.records].count(
        f"cannot write the outcome journal in {blocker / 'j'} (Not a directory); a kill in the next moments "
        "could send a message twice") == 1


def test_records_another_outbox_serves_go_back_for_it(tmp_path):
    journal = OutcomeJournal(tmp_path / "j")
    w = journal.writer()
    for i in range(4):
        w.record(i, 1000 + i, f"<{i}@x>")
    w.close(committed=False)  # the pass could not commit: left for a fold
    assert journal.fold(lambda records: [r for r in records if r.send_id % 2]) == 2
    left = []
    assert journal.fold(lambda records: left.extend(records) or []) == 2
    assert [r.send_id for r in left] == [1, 3]


async def test_a_250_journaled_before_a_kill_is_recorded_as_sent_and_not_sent_again(engine_db: Database, tmp_path):
    """The moment the issue is about: the server took the message, the process died before
    committing. The next pass reads the journal, marks the send sent with the time of the 250,
    moves the token on, and the message is not handed to the server again (SQLite and
    PostgreSQL: a worker's journal lives in ``$MAILBRANCH_HOME/outcomes/``)."""
    from engine.delivery.sandbox import SandboxServer

    db = engine_db

    engine = start(db, leads=2, wait="1h")
    engine.process_until()
    (first_id, first_mid), (second_id, _) = query(db, "SELECT id, message_id FROM sends ORDER BY id")
    # What a killed outbox leaves: the sends claimed, one 250 in its journal, nothing committed.
    with db.engine.begin() as c:
        c.exec_driver_sql("UPDATE sends SET status = 'sending', claimed_until = 0")
    journal = OutcomeJournal.for_database(db.url)
    dead = journal.writer()
    accepted_at = time.time_ns() // 1_000_000 - 500
    dead.record(first_id, accepted_at, first_mid)
    dead.close(committed=False)

    outside = SandboxServer(Database(tmp_path / "outside.db"))
    outside.db.migrate()
    await outside.start()
    r = runner(db, engine)
    r.settings.smtp = SmtpSettings.from_url(f"smtp://127.0.0.1:{outside.port}")
    await r.start()
    task = asyncio.create_task(r.run(until_finished=False))
    try:
        await until(lambda: query(db, "SELECT COUNT(*) FROM sends WHERE node = 'e1' AND status = 'sent'") == [(2,)],
                    what="both first emails sent")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await r.stop()
        await outside.stop()
    assert query(db, f"SELECT id, sent_at FROM sends WHERE id = {first_id}") == [(first_id, accepted_at)]
    assert query(db, f"SELECT COUNT(*) FROM events WHERE type = 'delivered' AND send_id = {first_id}") == [(1,)]
    # Only the other message went out; the journaled one was not sent again.
    assert outside.received == 1 and outside.resends == 0
    assert journal.pending() == 0
    assert second_id != first_id

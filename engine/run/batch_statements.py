"""The batch's statements: generated once, at import, from the typed tables.

A column is named through its model (``engine/store/statements.py``), so a
misspelt one fails here. The rows that ``Batch.load`` reads and
``Batch.flush`` writes follow each statement's column order.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.bulk import execute_many, insert_sql
from engine.store.models import Event, Lead, Listener, Send, Skip, Suppression, Token, Wait
from engine.store.statements import PARAM, in_batch, sql, update


def fill_batch_leads(session: Session, lead_ids: Iterable[int]) -> None:
    """The leads of this batch, in a temporary table the loading queries join."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        execute_many(session, "CREATE TEMP TABLE IF NOT EXISTS batch_leads (lead_id BIGINT PRIMARY KEY) "
                              "ON COMMIT DELETE ROWS", [()])
    else:
        execute_many(session, "CREATE TEMP TABLE IF NOT EXISTS batch_leads (lead_id INTEGER PRIMARY KEY)", [()])
    execute_many(session, "DELETE FROM batch_leads", [()])
    execute_many(session, "INSERT INTO batch_leads (lead_id) VALUES (?)", [(i,) for i in lead_ids])



SELECT_TOKENS = sql(select(Token.id, Token.lead_id, Token.parent_id, Token.node, Token.state, Token.tracked,
                           Token.path, Token.last_send, Token.created_at, Token.finished_at, Token.version)
                    .where(in_batch(Token.lead_id), Token.state == "waiting"))
SELECT_SENDS = sql(select(Send.id, Send.lead_id, Send.token_id, Send.node, Send.at, Send.message_id, Send.status,
                          Send.opened_at, Send.clicked_at, Send.clicked_urls, Send.sent_at, Send.machine_opened_at,
                          Send.machine_clicked_at, Send.machine_clicked_urls)
                   .where(in_batch(Send.lead_id)))
SELECT_WAITS = sql(select(Wait.id, Wait.token_id, Wait.lead_id, Wait.node, Wait.due_at, Wait.state, Wait.fired_at)
                   .where(in_batch(Wait.lead_id), Wait.state == "pending"))
SELECT_LISTENERS = sql(select(Listener.id, Listener.lead_id, Listener.token_id, Listener.condition, Listener.send_id,
                              Listener.event, Listener.url, Listener.mode, Listener.since, Listener.until,
                              Listener.state, Listener.triggered_token)
                       .where(in_batch(Listener.lead_id), Listener.state == "listening"))
#: A lead whose address is on the installation's suppression list (stored lower-cased).
SELECT_SUPPRESSED = sql(select(Lead.id, Suppression.reason)
                        .join_from(Lead, Suppression, Suppression.email == func.lower(Lead.email))
                        .where(in_batch(Lead.id)))
SELECT_UNSUBSCRIBED = sql(select(Lead.id).where(in_batch(Lead.id), Lead.unsubscribed_at.is_not(None)))
#: Where a simulated provider's queue ends for this campaign (``_next_slot``).
SELECT_LAST_SLOT = sql(select(func.max(Send.next_attempt_at)).where(Send.campaign_id == PARAM))
INSERT_TOKEN = insert_sql(Token.id, Token.campaign_id, Token.lead_id, Token.parent_id, Token.node, Token.state,
                          Token.tracked, Token.path, Token.last_send, Token.created_at, Token.finished_at,
                          Token.version)
INSERT_SEND = insert_sql(Send.id, Send.campaign_id, Send.lead_id, Send.token_id, Send.node, Send.at, Send.message_id,
                         Send.status, Send.attempts, Send.sent_at, Send.next_attempt_at, Send.opened_at,
                         Send.clicked_at, Send.clicked_urls, Send.machine_opened_at, Send.machine_clicked_at,
                         Send.machine_clicked_urls)
INSERT_SKIP = insert_sql(Skip.campaign_id, Skip.lead_id, Skip.token_id, Skip.node, Skip.send_id, Skip.at, Skip.reason)
INSERT_WAIT = insert_sql(Wait.id, Wait.campaign_id, Wait.token_id, Wait.lead_id, Wait.node, Wait.due_at, Wait.state,
                         Wait.fired_at, Wait.started_at)
INSERT_LISTENER = insert_sql(Listener.id, Listener.campaign_id, Listener.lead_id, Listener.token_id,
                             Listener.condition, Listener.send_id, Listener.event, Listener.url, Listener.mode,
                             Listener.since, Listener.until, Listener.state, Listener.triggered_token)
UPDATE_TOKEN = update(Token.node, Token.state, Token.tracked, Token.path, Token.last_send, Token.finished_at,
                      Token.version, where=(Token.id == PARAM, Token.version == PARAM))
FAIL_ENDED_TOKEN = update((Token.state, "failed"), (Token.version, Token.version + 1),
                          where=(Token.id == PARAM, Token.state == "finished"))
UPDATE_SEND_EVENTS = update(Send.opened_at, Send.clicked_at, Send.clicked_urls, Send.machine_opened_at,
                            Send.machine_clicked_at, Send.machine_clicked_urls, where=(Send.id == PARAM,))
#: The key, address and fields of the batch's leads, for node types that read them.
SELECT_LEAD_DATA = sql(select(Lead.id, Lead.key, Lead.email, Lead.fields).where(in_batch(Lead.id)))
#: A conversion keeps its first instant (SEMANTICS 10).
CONVERT_LEAD = update(Lead.converted_at, where=(Lead.id == PARAM, Lead.converted_at.is_(None)))
#: A converted lead's emails not yet handed to a server are not sent.
CANCEL_UNSENT = update((Send.status, "cancelled"), (Send.error, "the lead converted"),
                       where=(Send.lead_id == PARAM, Send.status.in_(("queued", "planned"))))
UPDATE_SEND_DELIVERED = update(Send.status, Send.at, Send.sent_at, where=(Send.id == PARAM,))
UPDATE_WAIT = update(Wait.state, Wait.fired_at, where=(Wait.id == PARAM, Wait.state == "pending"))
UPDATE_LISTENER = update(Listener.state, Listener.triggered_token,
                         where=(Listener.id == PARAM, Listener.state == "listening"))
UPDATE_EVENT = update(Event.state, Event.send_id, Event.triggered, Event.handled_at,
                      where=(Event.id == PARAM, Event.state == "pending"))

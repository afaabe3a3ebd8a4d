from __future__ import annotations

from email.message import EmailMessage

import pytest

from engine.delivery.sandbox import SandboxServer
from engine.delivery.tracking_tokens import TrackingTokens
from engine.store.database import Database


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "mailbranch.db")
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
async def sandbox(db):
    server = SandboxServer(db)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def tokens() -> TrackingTokens:
    return TrackingTokens(b"0123456789abcdef0123456789abcdef")


def make_message(to: str = "ann@example.com", subject: str = "Hello", message_id: str = "<m1@test>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Shop <shop@example.com>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content("Hi there")
    return message

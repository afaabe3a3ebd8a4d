"""The sandbox's mailbox as a typed table: every message the built-in SMTP
server received, kept in the campaign database so the CLI and the app can list
and open what a campaign sent. Reading and writing it is
``engine.delivery.mailbox``; the table lives here with the others.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Optional

from sqlalchemy import JSON, BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base


class MailboxMessage(Base):
    __tablename__ = "mailbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[int] = mapped_column(BigInteger, index=True)
    mail_from: Mapped[str] = mapped_column(String(998))
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON)
    message_id: Mapped[Optional[str]] = mapped_column(String(998), index=True)
    subject: Mapped[Optional[str]] = mapped_column(String(998))
    raw: Mapped[bytes] = mapped_column(LargeBinary)

    def email(self) -> EmailMessage:
        """The message parsed, for showing its parts."""
        message = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(message, EmailMessage)
        return message

    def body(self, subtype: str = "plain") -> Optional[str]:
        """The text (``plain``) or ``html`` part's content, if the message has one."""
        part = self.email().get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else None

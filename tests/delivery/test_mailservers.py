"""The real Postfix and Dovecot the bounce tests rely on: a message to an unknown
local user comes back as a DSN, readable over IMAP, in clear and over TLS."""

from __future__ import annotations

import imaplib
import smtplib
import ssl


def test_postfix_turns_an_unknown_local_user_into_a_dsn_served_over_imap(mail_servers):
    with smtplib.SMTP(mail_servers.host, mail_servers.port) as client:
        client.sendmail(f"bounce+probe@{mail_servers.bounce_domain}", [f"ghost@{mail_servers.local_domain}"],
                        b"Subject: probe\r\nMessage-ID: <probe@test>\r\n\r\nhello\r\n")
        client.sendmail("news@shop.example", ["ann@example.com"], b"Subject: kept\r\n\r\nhello\r\n")
    probe = f"bounce+probe@{mail_servers.bounce_domain}"
    dsn = mail_servers.wait_for("bounces", lambda m: m["To"] == probe)  # the mailbox is shared by the session
    assert dsn.get_content_type() == "multipart/report"
    assert mail_servers.wait_for("inbox", lambda m: m["Subject"] == "kept")

    context = ssl.create_default_context(cafile=str(mail_servers.certificate))
    for client in (imaplib.IMAP4(mail_servers.host, mail_servers.imap_port),
                   imaplib.IMAP4_SSL(mail_servers.host, mail_servers.imaps_port, ssl_context=context)):
        client.login("bounces", mail_servers.passwords["bounces"])
        status, data = client.select("INBOX")
        assert status == "OK" and int(data[0]) >= 1
        client.logout()

"""Bounces and complaints: what comes back to the bounce mailbox, and what it does.

``reports.py`` reads one message (a DSN, an ARF complaint, an unsubscribe
email, anything else) into a ``MailReport``; ``policy.py`` applies it to the
database (fail the send, suppress the address, count it); ``mailbox.py``
reads the mailbox over IMAP, supervised like the send loop.
"""

"""Settings' "Bounce mailbox" and "Sending pace" groups, as a marketer uses them: the URL is
checked as typed, Check logs in and says why it fails, the password goes where
`mailbranch bounce-password` puts it (never the settings file), and the engine is started
with the matching options; the report shows what bounced."""

from __future__ import annotations

import socketserver
import threading

import pytest

PASSWORD = "s3cret pw"


class _Imap(socketserver.StreamRequestHandler):
    """Just enough IMAP for a login check: CAPABILITY, LOGIN, SELECT, LOGOUT."""

    def handle(self) -> None:
        self.wfile.write(b"* OK IMAP4rev1 test server ready\r\n")
        for raw in self.rfile:
            tag, _, rest = raw.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            if command == "CAPABILITY":
                self.wfile.write(f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n".encode())
            elif command == "LOGIN":
                ok = args.split(" ", 1)[1].strip('"') == PASSWORD
                self.wfile.write(f"{tag} OK logged in\r\n".encode() if ok else
                                 f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".encode())
            elif command == "SELECT":
                self.wfile.write(f"* 0 EXISTS\r\n* 0 RECENT\r\n{tag} OK [READ-WRITE] selected\r\n".encode())
            elif command == "LOGOUT":
                self.wfile.write(f"* BYE bye\r\n{tag} OK done\r\n".encode())
                return
            else:
                self.wfile.write(f"{tag} BAD unknown\r\n".encode())


@pytest.fixture
def imap_port():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Imap)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch):
    """The owner-only file, as on a computer without a keyring (the test's home)."""
    monkeypatch.setattr("engine.bounces.settings._keyring", lambda: None)


def dialog_with(qtbot, **values):
    from app.settings import AppSettings
    from app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(AppSettings(**values))
    qtbot.addWidget(dialog)
    return dialog


def test_the_bounce_url_is_checked_as_typed(qtbot, home):
    from app.main_window import app_settings

    dialog = dialog_with(qtbot)
    assert dialog.ok_enabled() and not dialog.bounces.check.isEnabled()
    assert "No mailbox" in dialog.bounces.status.text()
    dialog.bounces.url.setText("pop3://bounces@mail.shop.example")
    assert not dialog.ok_enabled() and "must start with imaps://" in dialog.error_label.text()
    dialog.bounces.url.setText("imaps://bounces:pw@mail.shop.example")
    assert not dialog.ok_enabled() and "its own box" in dialog.error_label.text()
    dialog.bounces.url.setText("imaps://bounces@mail.shop.example")
    assert dialog.bounces.check.isEnabled()
    # Without a password the engine could not read it (and would not start): said before OK.
    assert not dialog.ok_enabled()
    assert "type the password of bounces on mail.shop.example (none is stored yet)" in dialog.error_label.text()
    dialog.bounces.password.setText(PASSWORD)
    assert dialog.ok_enabled()
    dialog.result_settings().save(app_settings())
    stored = dialog_with(qtbot, bounce_url="imaps://bounces@mail.shop.example")
    assert stored.ok_enabled(), "a stored password needs no typing again"


def test_the_password_is_kept_as_bounce_password_keeps_it_and_never_in_the_settings_file(qtbot, home):
    from PySide6.QtCore import QSettings

    from app.main_window import app_settings
    from app.settings import AppSettings
    from engine.bounces.settings import BounceMailboxSettings, with_password

    dialog = dialog_with(qtbot)
    dialog.bounces.url.setText("imaps://bounces@mail.shop.example")
    dialog.bounces.password.setText(PASSWORD)
    result = dialog.result_settings()
    assert PASSWORD not in repr(result)
    result.save(app_settings())
    stored = with_password(BounceMailboxSettings.from_url("imaps://bounces@mail.shop.example"))
    assert stored.password == PASSWORD, "the engine finds it where `mailbranch bounce-password` puts it"
    assert oct((home / "bounce-password").stat().st_mode & 0o777) == "0o600"
    settings_file = QSettings("Mailbranch", "App").fileName()
    assert PASSWORD not in open(settings_file, encoding="utf-8").read()
    again = AppSettings.load(app_settings())
    assert again.bounce_url == "imaps://bounces@mail.shop.example" and again.bounce_password == ""


def test_check_logs_in_and_says_why_it_fails(qtbot, qloop, home, imap_port):
    dialog = dialog_with(qtbot, bounce_url=f"imap://bounces@127.0.0.1:{imap_port}")
    dialog.bounces.password.setText("wrong")
    task = dialog.bounces.check_mailbox()
    qtbot.waitUntil(task.done, timeout=15000)
    text = dialog.bounces.status.text()
    assert "refused the login of bounces" in text and "check the bounce mailbox password" in text
    dialog.bounces.password.setText(PASSWORD)
    task = dialog.bounces.check_mailbox()
    qtbot.waitUntil(task.done, timeout=15000)
    assert dialog.bounces.status.text() == (f"Logged in to imap://bounces@127.0.0.1:{imap_port}/INBOX; "
                                            "the engine reads it every minute.")
    assert dialog.bounces.check.isEnabled()


def test_check_says_when_the_server_cannot_be_reached(qtbot, qloop, home, imap_port):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    dialog = dialog_with(qtbot, bounce_url=f"imap://bounces@127.0.0.1:{free}")
    dialog.bounces.password.setText(PASSWORD)
    task = dialog.bounces.check_mailbox()
    qtbot.waitUntil(task.done, timeout=15000)
    assert dialog.bounces.status.text().startswith(f"Not reachable: cannot reach 127.0.0.1:{free}")


def test_the_sending_pace_reaches_the_engine_command(qtbot, home):
    from app.main_window import app_settings, options_from_settings

    dialog = dialog_with(qtbot)
    assert dialog.pacing.pacing.isChecked() and dialog.pacing.warmup.text() == "No warm-up"
    assert "--no-pacing" not in options_from_settings().command()
    dialog.pacing.warmup.setValue(50)
    dialog.bounces.url.setText("imaps://bounces@mail.shop.example")
    dialog.result_settings().save(app_settings())
    options = options_from_settings()
    assert options.command()[-2:] == ["--warmup", "50"]
    assert options.environment()["MAILBRANCH_BOUNCE_URL"] == "imaps://bounces@mail.shop.example"
    assert "imaps://" not in " ".join(options.command())

    dialog = dialog_with(qtbot, warmup_per_day=50)
    assert dialog.pacing.warmup.value() == 50
    dialog.pacing.pacing.setChecked(False)
    assert not dialog.pacing.warmup.isEnabled()
    dialog.result_settings().save(app_settings())
    options = options_from_settings()
    assert "--no-pacing" in options.command() and "--warmup" not in options.command()


def test_the_report_says_what_bounced_and_was_reported_as_spam():
    from app.report_view import summary_line

    figures = {"leads": 20, "machine_events": 0,
               "bounces": {"total": {"bounced": 2, "soft_bounced": 1, "complained": 1}, "nodes": {}}}
    assert "Bounced: 2, soft-bounced: 1, spam complaints: 1" in summary_line(figures)

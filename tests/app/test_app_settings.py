"""The settings dialog and what it keeps (tests/app has no __init__.py: a package ``app`` would shadow the app)."""

from __future__ import annotations

import os
import stat

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from app.paths import data_dir  # noqa: E402
from app.settings import AppSettings  # noqa: E402
from app.settings_dialog import SettingsDialog  # noqa: E402
from engine.delivery.smtp import SmtpSettings  # noqa: E402

ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "..", "artifacts")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILBRANCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def qsettings(tmp_path):
    return QSettings(str(tmp_path / "mailbranch.ini"), QSettings.Format.IniFormat)


def settings_file_text(qsettings: QSettings) -> str:
    qsettings.sync()
    with open(qsettings.fileName(), encoding="utf-8") as f:
        return f.read()


def test_defaults_use_the_data_directory(home, qsettings):
    loaded = AppSettings.load(qsettings)
    assert loaded.smtp_url == "sandbox"
    assert (loaded.tracking_host, loaded.tracking_port, loaded.public_url) == ("127.0.0.1", 8025, "")
    assert loaded.db_path == str(home / "mailbranch.db")
    assert loaded.speed == 3600.0 and loaded.recent_files == []
    assert data_dir() == home and home.is_dir()


def test_save_and_load_round_trip_keeps_the_password_out_of_qsettings(home, qsettings, tmp_path):
    flow = tmp_path / "a.json"
    flow.write_text("{}")
    settings = AppSettings(smtp_url="smtp+starttls://ana%40shop:s3cret%2Fpw@mail.shop.example:587",
                           tracking_host="0.0.0.0", tracking_port=9000, public_url="https://t.shop.example",
                           db_path=str(tmp_path / "x.db"), speed=60.0, recent_files=[str(flow)])
    settings.save(qsettings)

    text = settings_file_text(qsettings)
    assert "s3cret" not in text and "mail.shop.example" in text
    secret = home / "smtp-password"
    assert secret.read_text() == "s3cret/pw"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "s3cret" not in repr(settings)

    loaded = AppSettings.load(QSettings(qsettings.fileName(), QSettings.Format.IniFormat))
    assert loaded.smtp_url == settings.smtp_url
    assert SmtpSettings.from_url(loaded.smtp_url).password == "s3cret/pw"
    assert loaded.tracking_port == 9000 and loaded.speed == 60.0
    assert loaded.recent_files == [str(flow)]

    # Back to the sandbox: the password file goes away.
    loaded.smtp_url = "sandbox"
    loaded.save(qsettings)
    assert not secret.exists()


def test_add_recent_most_recent_first_at_most_eight_existing_only(home, tmp_path):
    files = []
    for i in range(10):
        f = tmp_path / f"flow{i}.json"
        f.write_text("{}")
        files.append(f)
    settings = AppSettings()
    for f in files:
        settings.add_recent(f)
    settings.add_recent(files[3])
    assert settings.recent_files[0] == str(files[3])
    assert len(settings.recent_files) == 8
    assert settings.recent_files[1] == str(files[9])
    files[9].unlink()
    settings.add_recent(files[0])
    assert str(files[9]) not in settings.recent_files
    assert settings.recent_files[0] == str(files[0])
    assert len(set(settings.recent_files)) == len(settings.recent_files)


@pytest.fixture
def dialog(qtbot, home, tmp_path):
    dlg = SettingsDialog(AppSettings(db_path=str(tmp_path / "m.db")))
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def test_sandbox_by_default_and_ok_enabled(dialog):
    assert dialog.outgoing.sandbox_radio.isChecked()
    assert not dialog.outgoing.smtp_box.isEnabled()
    assert dialog.ok_enabled()
    assert dialog.result_settings().smtp_url == "sandbox"


def test_smtp_server_fields_build_the_url(dialog, qtbot):
    dialog.outgoing.smtp_radio.setChecked(True)
    assert not dialog.ok_enabled(), "an SMTP server without a host cannot be accepted"
    assert "host name" in dialog.error_label.text()
    qtbot.keyClicks(dialog.outgoing.smtp_host, "smtp.shop.example")
    dialog.outgoing.smtp_security.setCurrentIndex(2)  # SSL/TLS
    assert dialog.outgoing.smtp_port.value() == 465, "the usual port follows the security chosen"
    qtbot.keyClicks(dialog.outgoing.smtp_user, "ana@shop.example")
    qtbot.keyClicks(dialog.outgoing.smtp_password, "p@ss:word")
    assert dialog.ok_enabled() and not dialog.error_label.isVisible()
    parsed = SmtpSettings.from_url(dialog.result_settings().smtp_url)
    assert (parsed.host, parsed.port, parsed.use_tls) == ("smtp.shop.example", 465, True)
    assert (parsed.username, parsed.password) == ("ana@shop.example", "p@ss:word")


def test_invalid_host_shows_the_engine_message_inline(dialog, qtbot):
    dialog.outgoing.smtp_radio.setChecked(True)
    qtbot.keyClicks(dialog.outgoing.smtp_host, "bad host/")
    assert not dialog.ok_enabled()
    assert "is not a host name" in dialog.error_label.text()
    dialog.outgoing.smtp_host.setText("smtp.example.com:25")
    assert not dialog.ok_enabled()
    dialog.outgoing.smtp_host.setText("smtp.example.com")
    assert dialog.ok_enabled()


def test_public_url_must_be_http(dialog, qtbot):
    qtbot.keyClicks(dialog.public_url, "ftp://track.example")
    assert not dialog.ok_enabled()
    assert "http://" in dialog.error_label.text()
    dialog.public_url.setText("https://track.example/")
    assert dialog.ok_enabled()
    assert dialog.result_settings().public_url == "https://track.example"


def test_database_location_from_the_file_chooser(dialog, tmp_path, monkeypatch, qtbot):
    chosen = tmp_path / "elsewhere" / "campaigns.db"
    monkeypatch.setattr(dialog, "choose_db_path", lambda: str(chosen))
    dialog.db_choose.click()
    assert not dialog.ok_enabled(), "the folder does not exist yet"
    assert "does not exist" in dialog.error_label.text()
    chosen.parent.mkdir()
    dialog.db_choose.click()
    assert dialog.ok_enabled()
    dialog.speed.setValue(60)
    dialog.tracking_port.setValue(9100)
    result = dialog.result_settings()
    assert (result.db_path, result.speed, result.tracking_port) == (str(chosen), 60.0, 9100)


def test_existing_smtp_settings_fill_the_fields(qtbot, home, tmp_path):
    dlg = SettingsDialog(AppSettings(smtp_url="smtp+starttls://bob:pw@mx.example:2525",
                                     db_path=str(tmp_path / "m.db")))
    qtbot.addWidget(dlg)
    assert dlg.outgoing.smtp_radio.isChecked()
    assert (dlg.outgoing.smtp_host.text(), dlg.outgoing.smtp_port.value(), dlg.outgoing.smtp_security.currentText()) == \
        ("mx.example", 2525, "STARTTLS")
    assert (dlg.outgoing.smtp_user.text(), dlg.outgoing.smtp_password.text()) == ("bob", "pw")
    assert dlg.outgoing.smtp_password.echoMode() == dlg.outgoing.smtp_password.EchoMode.Password
    assert dlg.result_settings().smtp_url == "smtp+starttls://bob:pw@mx.example:2525"


def test_screenshot(qtbot, home, tmp_path):
    dlg = SettingsDialog(AppSettings(smtp_url="smtps://ana@smtp.shop.example:465", public_url="ftp://x",
                                     db_path=str(tmp_path / "m.db")))
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    os.makedirs(ARTIFACTS, exist_ok=True)
    assert dlg.grab().save(os.path.join(ARTIFACTS, "app-settings.png"))


def test_the_smtp_password_never_reaches_the_engine_command_line():
    from app.engine_process import EngineOptions

    options = EngineOptions(smtp_url="smtp://ana:pa55word@mail.example:587")
    assert not any("pa55word" in arg for arg in options.command())
    assert options.environment()["MAILBRANCH_SMTP_URL"] == "smtp://ana:pa55word@mail.example:587"


def test_ehlo_name_ca_bundle_and_plain_auth_reach_the_engine_through_the_server_url(dialog, qtbot, tmp_path):
    """The engine process gets them in MAILBRANCH_SMTP_URL, like the rest of the outgoing server's settings."""
    ca = tmp_path / "company-ca.pem"
    dialog.outgoing.smtp_radio.setChecked(True)
    qtbot.keyClicks(dialog.outgoing.smtp_host, "mx.shop.example")
    qtbot.keyClicks(dialog.outgoing.smtp_ehlo, "mail.shop.example")
    qtbot.keyClicks(dialog.outgoing.smtp_ca, str(ca))
    assert not dialog.ok_enabled() and "CA bundle" in dialog.error_label.text()
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="ascii")
    dialog.outgoing.smtp_ca.clear()
    qtbot.keyClicks(dialog.outgoing.smtp_ca, str(ca))
    dialog.outgoing.smtp_plain_auth.setChecked(True)
    assert dialog.ok_enabled()
    url = dialog.result_settings().smtp_url
    parsed = SmtpSettings.from_url(url)
    assert (parsed.local_hostname, parsed.ca_file, parsed.allow_plain_auth) == (
        "mail.shop.example", str(ca), True)
    again = SettingsDialog(AppSettings(smtp_url=url, db_path=str(tmp_path / "m.db")))
    qtbot.addWidget(again)
    box = again.outgoing
    assert (box.smtp_ehlo.text(), box.smtp_ca.text(), box.smtp_plain_auth.isChecked()) == (
        "mail.shop.example", str(ca), True)
    assert again.result_settings().smtp_url == url

"""Before a real run: the lead import dialog (preview, column mapping, every rejected row,
copy and save), and the Run dialog's confirmation of who, from whom, through what."""

from __future__ import annotations

import csv
import io

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog

LEADS = ("Name;Mail;Kunde\n"
         "Ana;ana@example.com;K-1\n"
         "Ben;ben@example.com;K-2\n"
         "Cleo;\"cleo@example.com;K-3\n"        # line 4: a quote that never closes
         "Dev;dev@example.com;K-4\n"
         "=HYPERLINK(\"x\");not-an-address;K-5\n"  # line 6: no valid address, formula-like
         "Eva;eva@example.com;K-6\n")
SENDER = "Spring Shop <news@shop.example>"


def write_leads(tmp_path):
    path = tmp_path / "kunden.csv"
    path.write_text(LEADS, encoding="utf-8")
    return path


def test_import_dialog_previews_maps_columns_and_lists_every_rejected_row(qtbot, tmp_path, home):
    from app.import_dialog import ImportDialog

    dialog = ImportDialog(write_leads(tmp_path))
    qtbot.addWidget(dialog)
    # The first rows as written, under the file's own headers.
    assert [dialog.preview.horizontalHeaderItem(i).text() for i in range(3)] == ["Name", "Mail", "Kunde"]
    assert dialog.preview.item(0, 1).text() == "ana@example.com"
    assert dialog.preview.rowCount() == 6
    # No column is headed "email": the one holding addresses is chosen, and every other one is a field.
    assert dialog.email_column == "mail" and dialog.key_column == ""
    assert dialog.fields_label.text() == "name, kunde"
    assert "4 leads will enter" in dialog.summary.text()
    # The id column is the customer number once the user says so.
    dialog.key_box.setCurrentIndex(dialog.key_box.findData("kunde"))
    assert [lead.key for lead in dialog.imported().leads] == ["K-1", "K-2", "K-4", "K-6"]
    assert dialog.imported().leads[0].fields["name"] == "Ana"

    rows = dialog.rejected_rows()
    assert [r[0] for r in rows] == ["4", "6"]
    assert "never closes" in rows[0][1] and rows[0][2] == 'Cleo;"cleo@example.com;K-3'
    assert "'not-an-address' is not a valid address" in rows[1][1]
    # The whole reason is there however narrow the column, and can be copied and saved.
    assert dialog.rejected.item(0, 1).toolTip() == rows[0][1]
    dialog.copy_rejected()
    copied = QApplication.clipboard().text()
    assert copied.startswith("line 4: a quote") and "line 6: 'not-an-address'" in copied
    saved = dialog.export_rejected(str(tmp_path / "rejected.csv"))
    table = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert table[0] == ["line", "reason", "row"] and [r[0] for r in table[1:]] == ["4", "6"]
    assert table[2][2].startswith("'=HYPERLINK")  # shown as text by a spreadsheet, never run as a formula

    # Mapping the addresses to a column that has none: every row is rejected, Use is off.
    dialog.email_box.setCurrentIndex(dialog.email_box.findData("name"))
    assert not dialog.ok_button.isEnabled() and len(dialog.rejected_rows()) == 6


def test_run_dialog_takes_the_import_and_says_where_emails_go(qtbot, tmp_path, home):
    from app.import_dialog import ImportDialog
    from app.run_dialog import RunDialog, RunTarget

    sandbox = RunTarget(None, "http://127.0.0.1:8025", [SENDER])
    dialog = RunDialog("Spring offer", False, None, parent=None, target=sandbox)
    qtbot.addWidget(dialog)
    assert "SMTP server in Settings" not in dialog.note.text()
    assert dialog.note.text().startswith("Emails go to the built-in sandbox: nothing leaves this computer.")

    chosen = ImportDialog(write_leads(tmp_path), dialog)
    qtbot.addWidget(chosen)
    chosen.key_box.setCurrentIndex(chosen.key_box.findData("kunde"))
    dialog.take_import(chosen)
    assert [lead.key for lead in dialog.request().imported.leads] == ["K-1", "K-2", "K-4", "K-6"]
    assert dialog.start_button.isEnabled()

    question, details = dialog.confirmation_text()
    assert question == (f"Send “Spring offer” to 4 people from {SENDER} through the built-in sandbox "
                        "(nothing leaves this computer)?")
    assert "http://127.0.0.1:8025" in details
    box = dialog.send_question()
    assert box.defaultButton() is box.escapeButton()
    assert box.buttonRole(box.defaultButton()) == box.ButtonRole.RejectRole

    dialog.target = RunTarget("smtp.shop.example:587", "http://127.0.0.1:8025", [SENDER])
    assert dialog.note_text() == "Emails go out through the outgoing server smtp.shop.example:587 (Settings)."
    question, details = dialog.confirmation_text()
    assert "through the outgoing server smtp.shop.example:587?" in question
    assert "only works on this computer" in details  # links recipients elsewhere cannot open


def test_enter_on_the_run_confirmation_cancels_and_nothing_starts(qtbot, tmp_path, home):
    from app.run_dialog import RunDialog, RunTarget

    leads = write_leads(tmp_path)
    dialog = RunDialog("Spring offer", False, leads, parent=None,
                       target=RunTarget(None, "https://t.shop.example", [SENDER]))
    qtbot.addWidget(dialog)
    # Without an "email" header the importer cannot guess: the dialog says where to choose the column.
    assert not dialog.start_button.isEnabled() and "click Import…" in dialog.summary.text()
    leads.write_text(LEADS.replace("Name;Mail;", "Name;Email;", 1), encoding="utf-8")
    dialog.reload()
    dialog.show()
    seen: list[str] = []

    def answer(key) -> None:
        box = QApplication.activeModalWidget()
        seen.append(box.text() if box is not None and box is not dialog else "")
        QTest.keyClick(box, key)

    QTimer.singleShot(50, lambda: answer(Qt.Key.Key_Return))
    dialog.start_button.click()
    assert seen and seen[0].startswith("Send “Spring offer” to 4 people")
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted

    # Confirmed: the Run dialog closes with its request.
    dialog.confirm_send = lambda: True
    dialog.start_button.click()
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()

    # A simulation asks nothing more.
    sim = RunDialog("Spring offer", True, leads, parent=None)
    qtbot.addWidget(sim)
    sim.confirm_send = lambda: (_ for _ in ()).throw(AssertionError("a simulation asked to confirm"))
    sim.show()
    sim.start_button.click()
    assert sim.result() == QDialog.DialogCode.Accepted

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.leads.importer import LeadImportError, import_leads, parse_leads


def test_spreadsheet_export_with_bom_semicolons_and_crlf():
    data = codecs.BOM_UTF8 + "Email;First Name;City\r\nann@example.com;Ann;Köln\r\nbob@example.com;Bob;Paris\r\n".encode()
    result = import_leads(data)
    assert [lead.email for lead in result.leads] == ["ann@example.com", "bob@example.com"]
    assert result.leads[0].fields == {"first_name": "Ann", "city": "Köln", "email": "ann@example.com"}
    assert result.delimiter == ";"
    assert result.summary() == "2 added, 0 merged, 0 rejected"


def test_bad_rows_are_reported_with_line_and_reason_and_good_rows_still_import():
    text = (
        "email,name\n"
        "ann@example.com,Ann\n"
        "not-an-address,Zed\n"
        ",Nobody\n"
        "bob@example,Bob\n"
        "cy@example.com,Cy\n"
    )
    result = parse_leads(text)
    assert [lead.email for lead in result.leads] == ["ann@example.com", "cy@example.com"]
    assert [(r.line, r.raw) for r in result.rejected] == [
        (3, "not-an-address,Zed"), (4, ",Nobody"), (5, "bob@example,Bob")]
    assert "@-sign" in result.rejected[0].reason
    assert result.rejected[1].reason == "no email address"
    assert result.summary() == "2 added, 0 merged, 3 rejected"


def test_duplicates_merge_filling_blanks_and_report_both_lines():
    text = "email,first_name,company\nAnn@Example.com,Ann,\nann@example.com,Annie,ACME\n"
    result = parse_leads(text)
    assert len(result.leads) == 1
    lead = result.leads[0]
    assert lead.fields["company"] == "ACME" and lead.fields["first_name"] == "Ann"
    merge = result.merged[0]
    assert (merge.line, merge.into_line) == (3, 2)
    assert merge.filled == ("company",) and merge.conflicts == ("first_name",)
    assert lead.key == "ann@example.com"
    assert result.summary() == "1 added, 1 merged, 0 rejected"


def test_missing_email_column_is_a_clear_error():
    with pytest.raises(LeadImportError, match="no 'email' column.*'name', 'phone'"):
        parse_leads("name,phone\nAnn,123\n")


def test_empty_file_is_a_clear_error():
    with pytest.raises(LeadImportError, match="empty"):
        import_leads(b"")


def test_latin1_file_from_old_excel():
    data = "email\tname\nrene@example.com\tRené\n".encode("latin-1")
    result = import_leads(data)
    assert result.leads[0].fields["name"] == "René"
    assert result.delimiter == "\t"
    assert result.encoding in ("cp1252", "latin-1")


def test_id_column_gives_the_key_and_a_reused_id_is_rejected():
    result = parse_leads("id,email\n17,ann@example.com\n17,bob@example.com\n,cy@example.com\n")
    assert [lead.key for lead in result.leads] == ["17", "cy@example.com"]
    assert result.rejected[0].line == 3 and "id '17'" in result.rejected[0].reason


def test_blank_rows_are_counted_not_silently_dropped():
    result = parse_leads("email\nann@example.com\n\n,\nbob@example.com\n")
    assert len(result.leads) == 2
    assert "blank rows skipped" in result.summary()


def test_row_with_too_many_values_is_rejected_not_misaligned():
    result = parse_leads("email,name\nann@example.com,Ann,Extra\nbob@example.com,Bob,\n")
    assert [lead.email for lead in result.leads] == ["bob@example.com"]
    assert result.rejected[0].line == 2 and "3 values" in result.rejected[0].reason


def test_line_numbers_count_physical_lines_with_multiline_quoted_values():
    result = parse_leads('email,note\nann@example.com,"two\nlines"\nbad,x\n')
    assert result.leads[0].fields["note"] == "two\nlines"
    assert result.rejected[0].line == 4


def test_commas_inside_quoted_values_do_not_fool_the_delimiter_choice():
    result = parse_leads('email;note\nann@example.com;"a, b, c, d"\n')
    assert result.delimiter == ";" and result.leads[0].fields["note"] == "a, b, c, d"


def test_import_from_a_path(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("EMAIL\nann@example.com\n", encoding="utf-8")
    assert import_leads(path).leads[0].email == "ann@example.com"
    with pytest.raises(LeadImportError, match="Cannot read"):
        import_leads(tmp_path / "missing.csv")


cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
addresses = st.one_of(st.emails(), cell)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(addresses, cell), max_size=12), delimiter=st.sampled_from([",", ";", "\t"]))
def test_every_row_is_accounted_for(rows, delimiter):
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["email", "name"])
    writer.writerows(rows)
    result = parse_leads(buffer.getvalue())
    accounted = len(result.leads) + len(result.merged) + len(result.rejected) + len(result.blank_lines)
    assert accounted == len(rows)
    assert len({lead.email.casefold() for lead in result.leads}) == len(result.leads)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data):
    try:
        result = import_leads(data)
    except LeadImportError:
        return
    for lead in result.leads:
        assert "@" in lead.email


def _hundred_rows() -> list[str]:
    return ["email,name"] + [f"u{i}@example.com,User {i}" for i in range(1, 101)]


def test_an_unterminated_quote_is_reported_with_its_line_and_swallows_nothing():
    rows = _hundred_rows()
    rows[10] = 'u10@example.com,"User 10'  # line 11 opens a quote it never closes
    result = parse_leads("\n".join(rows) + "\n")
    assert result.summary() == "99 added, 0 merged, 1 rejected"
    assert [lead.line for lead in result.leads] == [n for n in range(2, 102) if n != 11]
    rejection = result.rejected[0]
    assert (rejection.line, rejection.raw) == (11, 'u10@example.com,"User 10')
    assert "never closes" in rejection.reason


def test_a_stray_quote_closed_by_another_far_below_swallows_nothing():
    rows = _hundred_rows()
    rows[10] = 'u10@example.com,"User 10'
    rows[50] = 'u50@example.com,"User 50'  # its quote would close line 11's, 40 rows later
    result = parse_leads("\n".join(rows) + "\n")
    assert result.summary() == "98 added, 0 merged, 2 rejected"
    assert [r.line for r in result.rejected] == [11, 51]
    assert "runs on to line 51" in result.rejected[0].reason and "never closes" in result.rejected[1].reason


def test_a_quoted_value_with_line_breaks_is_still_one_value():
    text = 'email,address\nann@example.com,"1 High St\nFlat 2\nLeeds"\nbob@example.com,"2 Low Rd"\n'
    result = parse_leads(text)
    assert result.summary() == "2 added, 0 merged, 0 rejected"
    assert result.leads[0].fields["address"] == "1 High St\nFlat 2\nLeeds" and result.leads[1].line == 5


def test_an_unterminated_quote_in_the_header_is_a_clear_error():
    with pytest.raises(LeadImportError, match='quote .* header row on line 1 is never closed'):
        parse_leads('email,"name\nann@example.com,Ann\n')

"""Merge fields the lead list does not have are warned about, with the likely column."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.flow.fileformat import load_flow
from engine.flow.validate import has_errors, validate

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "flows" / "sample.json"
MAILBRANCH = Path(sys.executable).parent / "mailbranch"
COLUMNS = ("email", "first_name", "last_name", "company")


def sample_with(node_id: str, **settings):
    flow = load_flow(SAMPLE)
    for key, value in settings.items():
        flow.set_setting(node_id, key, value)
    return flow


def write_typo_flow(tmp_path: Path) -> Path:
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    for node in data["nodes"]:
        if node["id"] == "e2":
            node["subject"] = "Thanks, {{ frist_name }}"
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_misspelt_field_is_a_warning_that_names_the_column_meant():
    findings = validate(sample_with("e2", subject="Thanks, {{ frist_name }}"), COLUMNS)
    unknown = [f for f in findings if f.code == "unknown-field"]
    assert len(unknown) == 1
    assert unknown[0].severity == "warning" and unknown[0].node == "e2"
    assert "{{ frist_name }}" in unknown[0].message and "Did you mean first_name?" in unknown[0].message
    assert not has_errors(findings)


def test_known_fields_email_loop_variables_and_globals_are_not_reported():
    body = ("{% for item in range(2) %}{{ item }}{% endfor %}{% set greeting = 'Hi' %}{{ greeting }} "
            "{{ email }} {{ company | upper }} {{ loop_total | default(0) }}")
    findings = validate(sample_with("e2", html=body), COLUMNS)
    assert [(f.code, f.message.split(" uses ")[1].split(",")[0]) for f in findings] == [
        ("unknown-field", "{{ loop_total }}")]


def test_a_field_nothing_resembles_gets_advice_instead_of_a_guess():
    findings = validate(sample_with("e3", html="<p>{{ zzz }}</p>"), COLUMNS)
    (finding,) = [f for f in findings if f.code == "unknown-field"]
    assert "Did you mean" not in finding.message and "Add the column" in finding.message


def test_without_a_lead_list_nothing_is_reported():
    assert validate(sample_with("e2", subject="{{ frist_name }}")) == []


def test_markdown_links_count_for_click_conditions_and_an_unknown_format_is_an_error():
    flow = load_flow(SAMPLE)  # e1 is Markdown; c2 waits for a click on it
    assert flow.node("e1").get("format") == "markdown"
    assert validate(flow, COLUMNS) == []
    flow.set_setting("c2", "url", "https://shop.example/offer")
    assert validate(flow) == []
    flow.set_setting("e1", "format", "docx")
    errors = [f for f in validate(flow) if f.is_error]
    assert any(f.code == "bad-setting" and "choose “html” or “markdown”" in f.message for f in errors)


def test_cli_validate_with_the_lead_list_warns_and_still_exits_0(tmp_path):
    flow = write_typo_flow(tmp_path)
    leads = ROOT / "resources" / "leads" / "sample-leads.csv"
    plain = subprocess.run([str(MAILBRANCH), "validate", str(flow)], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0 and "unknown-field" not in plain.stdout
    shown = subprocess.run([str(MAILBRANCH), "validate", str(flow), "--leads", str(leads)], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0
    assert "warning unknown-field [e2]" in shown.stdout and "Did you mean first_name?" in shown.stdout
    as_json = subprocess.run([str(MAILBRANCH), "validate", str(flow), "--leads", str(leads), "--json"],
                             capture_output=True, text=True, timeout=60)
    findings = json.loads(as_json.stdout)["findings"]
    assert [(f["code"], f["severity"], f["node"]) for f in findings] == [("unknown-field", "warning", "e2")]


def test_cli_simulate_with_a_csv_warns_before_running(tmp_path):
    flow = write_typo_flow(tmp_path)
    leads = tmp_path / "leads.csv"
    leads.write_text("email,first_name\nann@example.com,Ann\n", encoding="utf-8")
    result = subprocess.run([str(MAILBRANCH), "simulate", str(flow), "--leads", str(leads)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "unknown-field [e2]" in result.stderr and "Did you mean first_name?" in result.stderr


def test_cli_validate_with_an_unreadable_lead_list_says_so_in_one_sentence(tmp_path):
    result = subprocess.run([str(MAILBRANCH), "validate", str(SAMPLE), "--leads", str(tmp_path / "none.csv")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "error:" in result.stderr

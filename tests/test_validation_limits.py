"""Validation catches what would crash (issue 10, item 8).

Each case was a flow that ``validate`` passed and a run then died on: a wait
of ``99999999999999999999d``, ``NaN`` or ``Infinity``; a lone surrogate in a
subject or an id; JSON nested a hundred thousand levels; a template such as
``{{ 'a' * 1000000000 }}`` that grew a run to 4 GB. Now each is a finding
with a code and a sentence (or, where the file format itself cannot hold it,
one load error), in ``validate``, ``simulate`` and ``run`` alike, and the
renderer refuses what the sandbox would otherwise build.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.delivery.render import (
    EmailContent,
    MessageTooLargeError,
    RenderError,
    render_content,
    render_email,
)
from engine.delivery.tracked_links import TrackingUrls
from engine.delivery.tracking_tokens import TrackingTokens
from engine.flow import loads_flow, parse_duration, validate
from engine.flow.durations import MAX_WAIT_SECONDS, DurationError
from engine.flow.fileformat import MAX_DEPTH, FlowFileError, flow_from_data
from engine.flow.templates import ENVIRONMENT, MAX_CHARS, TemplateLimitError, template_error
from engine.flow.validate import has_errors
from tests.flows import SEMANTICS_EXAMPLE

REPO = Path(__file__).resolve().parents[1]
BASE: dict = copy.deepcopy(SEMANTICS_EXAMPLE)


def with_node(node_id: str, **fields) -> dict:
    data = copy.deepcopy(BASE)
    next(n for n in data["nodes"] if n["id"] == node_id).update(fields)
    return data


def errors_of(data: dict) -> list[tuple[str, str | None, str]]:
    return [(f.code, f.node, f.message) for f in validate(flow_from_data(data)) if f.is_error]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def tracking_urls() -> TrackingUrls:
    """Tracking URLs for one send, whatever fields the identity work gives them."""
    values = {"public_url": "http://127.0.0.1:8025", "tokens": TrackingTokens(b"k" * 32), "send_id": 1,
              "lead_id": 1, "email": "a@b.c"}
    return TrackingUrls(**{f.name: values.get(f.name, "c1") for f in dataclasses.fields(TrackingUrls) if f.init})


def assert_one_clear_sentence(text: str) -> None:
    assert "Traceback" not in text and "Error:" not in text.replace("error:", ""), text
    text.encode("utf-8")  # printable: no lone surrogate got into a message


# -- durations ----------------------------------------------------------------------

@pytest.mark.parametrize(("duration", "words"), [
    ("99999999999999999999d", "far too long"),
    ("1e300", "far too long"),
    (1e300, "far too long"),
    (10 ** 30, "far too long"),
    ("NaN", "is not a duration"),
    ("Infinity", "is not a duration"),
    ("inf", "is not a duration"),
    (float("nan"), "NaN is not a duration"),
    (float("inf"), "far too long"),
    (float("-inf"), "far too long"),
    ("400d", "longest wait of 365 days"),
    ("366d", "longest wait of 365 days"),
    ("-0", "longer than zero"),
    (-0.0, "longer than zero"),
    ("0.0001s", "longer than zero"),
    ("1_000", "is not a duration"),
    ("١٢", "is not a duration"),
])
def test_a_wait_that_would_overflow_is_a_bad_setting_naming_the_wait(duration, words):
    errors = errors_of(with_node("w1", duration=duration))
    assert [(code, node) for code, node, _ in errors] == [("bad-setting", "w1")]
    message = errors[0][2]
    assert "wait “w1”" in message.lower() and words in message, message


@pytest.mark.parametrize("duration", ["365d", "364d23h59m59s", 365 * 86400, "1s", 0.5, "3d"])
def test_waits_up_to_a_year_stay_valid(duration):
    assert errors_of(with_node("w1", duration=duration)) == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_json_literals_that_are_not_numbers_are_bad_settings_too(literal):
    text = json.dumps(with_node("w1", duration=7)).replace('"duration": 7', f'"duration": {literal}')
    findings = [f for f in validate(loads_flow(text)) if f.is_error]
    assert [(f.code, f.node) for f in findings] == [("bad-setting", "w1")]


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-10 ** 40, max_value=10 ** 40),
    st.text(max_size=30),
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 10 ** 25), st.sampled_from("dhms")),
))
def test_any_duration_parses_to_a_bounded_number_or_says_why(value):
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        assert str(exc) and "\n" not in str(exc)
        str(exc).encode("utf-8")
        return
    assert math.isfinite(seconds) and abs(seconds) <= 100 * 365 * 86400
    findings = validate(flow_from_data(with_node("w1", duration=value)))
    fine = 0 < round(seconds * 1000) and seconds <= MAX_WAIT_SECONDS
    assert has_errors(findings) is not fine


# -- text that is not valid Unicode -------------------------------------------------

@pytest.mark.parametrize(("change", "node", "words"), [
    (lambda d: d["nodes"][1].update(subject="Hi \ud800 there"), "e1", "The subject of email “e1”"),
    (lambda d: d["nodes"][1].update(html='<a href="https://shop.example/\udc00">x</a>'), "e1", "The body of"),
    (lambda d: d["nodes"][2].update(url="https://shop.example/\udfff", event="click"), "c1", "The link of"),
    (lambda d: d["nodes"][3].update(sender="Shop \ud83d <shop@example.com>"), "e2", "The sender of"),
    (lambda d: d["nodes"][4].update(note="remember \udbff"), "w1", "note"),
    (lambda d: d.update(name="Spring \ud800"), None, "The campaign name"),
    (lambda d: d.update(layout={"zoom\ud800": 1}), None, "layout"),
])
def test_a_lone_surrogate_is_a_bad_setting_with_a_printable_sentence(change, node, words):
    data = copy.deepcopy(BASE)
    change(data)
    errors = [e for e in errors_of(data) if "invalid character" in e[2]]
    assert [(code, where) for code, where, _ in errors] == [("bad-setting", node)]
    message = errors[0][2]
    assert words in message and "half of a UTF-16 pair" in message, message
    message.encode("utf-8")


@pytest.mark.parametrize("change", [
    lambda d: (d["nodes"][1].update(id="e\ud800"), d["edges"][0].update(to="e\ud800")),
    lambda d: d["edges"][0].update(to="e\udc00"),
    lambda d: d["edges"][2].update(port="y\udc00s"),
    lambda d: d["nodes"][1].update(type="em\ud800il"),
])
def test_an_id_or_port_that_is_not_valid_unicode_is_one_load_error(change):
    data = copy.deepcopy(BASE)
    change(data)
    with pytest.raises(FlowFileError) as caught:
        flow_from_data(data)
    message = str(caught.value)
    assert "\n" not in message
    message.encode("utf-8")


def test_validate_prints_a_surrogate_subject_and_exits_1(tmp_path):
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(with_node("e1", subject="Hi \ud800")), encoding="utf-8")  # \ud800 escaped
    for args in (("validate", str(path)), ("validate", "--json", str(path))):
        result = run_cli(*args)
        assert result.returncode == 1, result.stderr
        assert_one_clear_sentence(result.stdout + result.stderr)
        assert "\\ud800" in result.stdout and "bad-setting" in result.stdout


def test_validate_refuses_a_surrogate_id_with_exit_2(tmp_path):
    data = copy.deepcopy(BASE)
    data["nodes"][1]["id"] = data["edges"][0]["to"] = "e\ud800"
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert_one_clear_sentence(result.stderr)
    assert "nodes[1]" in result.stderr and "\\ud800" in result.stderr


def test_markup_like_text_in_a_subject_prints_as_written(tmp_path):
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(with_node("e1", subject="Sale [/b] {{")), encoding="utf-8")
    result = run_cli("validate", str(path))
    assert result.returncode == 1
    assert_one_clear_sentence(result.stdout + result.stderr)
    assert "(Sale [/b] {{)" in result.stdout and "[e1]" in result.stdout


json_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)


@settings(max_examples=200, deadline=None)
@given(subject=json_text, name=json_text, note=json_text, url=json_text)
def test_any_text_anywhere_validates_without_crashing_and_messages_print(subject, name, note, url):
    data = copy.deepcopy(BASE)
    data["name"] = name
    data["nodes"][1]["subject"] = subject
    data["nodes"][1]["note"] = {note: [note]}
    data["nodes"][2].update(event="click", url=url)
    text = json.dumps(data)  # the way a file spells a surrogate: \udXXX
    findings = validate(loads_flow(text))
    for finding in findings:
        finding.message.encode("utf-8")
        json.dumps(finding.as_json(), ensure_ascii=False).encode("utf-8")
    invalid = any("\ud800" <= ch <= "\udfff" for ch in subject + name + note + url)
    assert invalid == any("invalid character" in f.message for f in findings)


# -- nesting and numbers the file format cannot hold ---------------------------------

def deep(levels: int) -> str:
    return json.dumps(BASE)[:-1] + ', "layout": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize("levels", [MAX_DEPTH, 100, 100_000])
def test_deeply_nested_json_is_one_load_error(levels):
    with pytest.raises(FlowFileError) as caught:
        loads_flow(deep(levels))
    assert "nested more than 64 levels" in str(caught.value)


def test_nesting_within_the_limit_loads():
    # The layout list sits at depth 2 under the flow object, so 62 more levels fit.
    flow = loads_flow(deep(MAX_DEPTH - 2))
    assert not has_errors(validate(flow))


def test_brackets_inside_text_do_not_count_as_nesting():
    data = with_node("e1", html="<p>" + "[{" * 500 + "</p>")
    assert not has_errors(validate(loads_flow(json.dumps(data))))


def test_nested_data_built_in_python_is_refused_too():
    data = copy.deepcopy(BASE)
    layout: list = []
    data["layout"] = layout
    for _ in range(200):
        layout.append([])
        layout = layout[0]
    with pytest.raises(FlowFileError, match="nested more than"):
        flow_from_data(data)


def test_cli_refuses_deep_json_and_huge_numbers_with_exit_2(tmp_path):
    for name, text in (("deep.json", deep(100_000)),
                       ("big.json", json.dumps(BASE)[:-1] + ', "n": ' + "9" * 5000 + "}")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = run_cli("validate", str(path))
        assert result.returncode == 2, result.stderr
        assert_one_clear_sentence(result.stderr)
        assert result.stderr.count("\n") == 1


# -- templates ------------------------------------------------------------------------

HUGE_TEMPLATES = [
    "{{ 'a' * 1000000000 }}",
    "{{ 1000000000 * 'ab' }}",
    "{{ [1, 2] * 1000000000 }}",
    "{{ 9 ** (9 ** 9) }}",
    "{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{% set x %}{% for i in range(99999) %}{{ 'y' * 99 }}{% endfor %}{% endset %}{{ x|length }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% for i in range(99999) %}{{ 'z' * 99 }}{% endfor %}",
    "{{ 'a'|center(1000000000) }}",
    "{{ ('line\n' * 1000)|indent(100000) }}",
    "{{ ('a' * 100000)|replace('a', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb') }}",
    "{{ range(100000)|join('-' * 100) }}",
    "{{ [1]|batch(1000000000, 'x')|list }}",
    "{{ 'a'.ljust(1000000000) }}",
    "{{ 'a\tb'.expandtabs(1000000000) }}",
    "{{ 'x'.join(['y' * 1000] * 3000) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '{:999999999}'.format(1) }}",
    "{{ '{:{}}'.format(1, 999999999) }}",
    "{{ '%999999999s'|format(1) }}",
    "{{ {'a': 1}|tojson(1000000000) }}",
    "{{ lipsum(1000000) }}",
    "{{ range(100000)|map('center', 2000000)|list|length }}",
    "{{ 'x'.join(range(100000)|map('center', 2000000)) }}",
    "{{ ('a' * 1000000).translate({97: 'bbbbbbbbbb'}) }}",
]


@pytest.mark.parametrize("source", HUGE_TEMPLATES)
def test_a_template_that_would_build_a_huge_value_is_a_broken_template(source):
    errors = errors_of(with_node("e1", html=source))
    assert [(code, node) for code, node, _ in errors] == [("bad-setting", "e1")]
    assert "is a broken template" in errors[0][2]


@pytest.mark.parametrize("source", HUGE_TEMPLATES)
def test_the_renderer_refuses_it_as_a_typed_error_for_that_send(source):
    with pytest.raises(RenderError) as caught:
        render_content(EmailContent("Hi", source), {}, "ann@example.com")
    assert str(caught.value).startswith("the html template cannot be filled in: ")


def test_a_limit_reached_only_with_a_lead_s_data_fails_that_lead_alone():
    content = EmailContent("Hi", "<p>{{ first_name * 100000 }}</p>")
    assert template_error(content.html) is None  # empty fields: nothing to see before the run
    assert render_content(content, {"first_name": "Jo"}, "a@b.c").html == "<p>" + "Jo" * 100000 + "</p>"
    with pytest.raises(RenderError, match="the html template cannot be filled in"):
        render_content(content, {"first_name": "Maximilian Alexander"}, "a@b.c")


def test_a_subject_longer_than_one_header_line_is_refused_before_and_during_the_run():
    errors = errors_of(with_node("e1", subject="Sale " * 200))
    assert [(code, node) for code, node, _ in errors] == [("bad-setting", "e1")]
    assert "a subject holds at most 998" in errors[0][2]
    content = EmailContent("Hi {{ first_name * 500 }}", "<p>x</p>")
    with pytest.raises(MessageTooLargeError, match="the subject is 1,003 characters once filled in"):
        render_email(content, {"first_name": "Jo"}, email="a@b.c", sender="shop@example.com",
                     urls=tracking_urls(), token_id=1, node_id="e1")


@pytest.mark.parametrize(("source", "fields", "expected"), [
    ("{{ 'ab' * 3 }}", {}, "ababab"),
    ("{% for p in products.split(',') %}[{{ p|trim|title }}]{% endfor %}", {"products": "tea, cake"},
     "[Tea][Cake]"),
    ("{{ '%05d' % 42 }} {{ '{:>6}'.format('x') }} {{ 'x'|center(5) }}|", {}, "00042      x   x  |"),
    ("{{ (2 ** 64) * 3 }}", {}, str(3 * 2 ** 64)),
    ("{% set s %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ s ~ '!' }}", {}, "012!"),
    ("{{ first_name|default('there')|replace('e', 'E') }}", {}, "thErE"),
    ("{{ ['a', 'b']|join(', ') }}", {}, "a, b"),
    ("{% for x in 'abc'|list if x != 'b' %}{{ loop.index }}/{{ loop.length }}{{ x|upper }}{% endfor %}", {},
     "1/2A2/2C"),
    ("{{ 'a,b'.split(',')|map('upper')|join('+') }} {{ [3, 1, 2]|sort|first }}", {}, "A+B 1"),
])
def test_ordinary_templates_render_as_before(source, fields, expected):
    assert template_error(source) is None
    assert render_content(EmailContent("x", "<p>x</p>", source), fields, "a@b.c").text == expected


def test_lists_cannot_grow_in_place():
    rendered = render_content(EmailContent("x", "<p>x</p>", "{% set l = [1] %}{{ l.append(l) }}{{ l }}"), {}, "a@b.c")
    assert rendered.errors and "unsafe" in rendered.errors[0]


def test_the_editor_preview_environment_is_the_limited_one():
    with pytest.raises(TemplateLimitError):
        ENVIRONMENT.from_string("{{ 'a' * 1000000000 }}").render()


def test_a_template_longer_than_one_email_is_a_broken_template():
    errors = errors_of(with_node("e2", html="x" * (MAX_CHARS + 1)))
    assert [(code, node) for code, node, _ in errors] == [("bad-setting", "e2")]


def test_an_email_over_2_mb_once_filled_in_is_a_typed_error():
    # Each part fits on its own; together, with tracking, they do not.
    content = EmailContent("Hi", "<p>{{ 'h' * 1200000 }}</p>", "{{ 't' * 1200000 }}")
    urls = tracking_urls()
    with pytest.raises(MessageTooLargeError, match="once filled in; one email may hold at most 2,000,000"):
        render_email(content, {}, email="a@b.c", sender="shop@example.com", urls=urls, token_id=1, node_id="e1")


def test_invalid_text_from_a_lead_s_fields_is_a_typed_error():
    urls = tracking_urls()
    with pytest.raises(RenderError, match="invalid character"):
        render_email(EmailContent("Hi {{ name }}", "<p>x</p>"), {"name": "Jo\ud800"}, email="a@b.c",
                     sender="shop@example.com", urls=urls, token_id=1, node_id="e1")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([
    "{{ 'ab' * N }}", "{{ N * 'ab' }}", "{{ ['x'] * N }}", "{{ 'x'|center(N) }}", "{{ 'x'.rjust(N) }}",
    "{{ '%*d' % (N, 1) }}", "{{ '{:{}}'.format(1, N) }}", "{{ ('a' * 1000)|indent(N) }}",
    "{{ 7 ** N }}", "{{ range(N % 100000)|join(',') }}", "{% for i in range(N % 100000) %}ab{% endfor %}",
]), st.integers(min_value=0, max_value=10 ** 12))
def test_any_size_renders_within_the_cap_or_raises_the_limit_error(template, number):
    source = template.replace("N", str(number))
    try:
        output = render_content(EmailContent("x", source), {}, "a@b.c").html
    except RenderError as exc:
        assert "cannot be filled in" in str(exc)
        return
    assert len(output) <= MAX_CHARS


# -- simulate and run refuse with the same sentence ------------------------------------

@pytest.mark.parametrize(("data", "node"), [
    (with_node("w1", duration="99999999999999999999d"), "w1"),
    (with_node("e1", subject="Hi \ud800"), "e1"),
    (with_node("e2", html="{{ 'a' * 1000000000 }}"), "e2"),
])
def test_simulate_and_run_refuse_with_the_finding(tmp_path, data, node):
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    leads = tmp_path / "leads.csv"
    leads.write_text("email\nann@example.com\n", encoding="utf-8")
    db = tmp_path / "run.db"
    for args, doing in ((("simulate", str(path), "--leads", "3"), "simulating"),
                        (("run", str(path), "--leads", str(leads), "--db", str(db)), "running")):
        result = run_cli(*args)
        assert result.returncode == 1, result.stderr
        assert_one_clear_sentence(result.stdout + result.stderr)
        assert f"bad-setting [{node}]" in result.stderr
        assert f"fix them before {doing}" in result.stderr
    assert not db.exists()  # refused before anything was created

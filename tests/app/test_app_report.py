"""The report view: funnel rows, the chart's data and the CSV export, on canned figures."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

from app.client import EngineError  # noqa: E402
from app.report_view import ReportView  # noqa: E402
from tests.qt_helpers import shown_and_refreshed  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
HOUR = 3_600_000


def node(node_id, kind, **counts):
    base = {"node": node_id, "type": kind, "waiting": 0, "passed": 0, "finished": 0, "failed": 0, "sent": 0,
            "queued": 0, "send_failed": 0, "skipped": 0, "opened": 0, "clicked": 0, "machine_opened": 0,
            "machine_clicked": 0, "yes": 0, "no": 0, "ports": {}}
    base.update(counts)
    sent = base["sent"]
    base["open_rate"] = base["opened"] / sent if sent else None
    base["click_rate"] = base["clicked"] / sent if sent else None
    return base


class FakeClient:
    def __init__(self) -> None:
        self.exported: list[str] = []
        self.fail = False
        self.answer = None

    async def figures(self, campaign_id):
        if self.fail:
            raise EngineError("the engine does not answer (ClientConnectorError)")
        if self.answer is not None:
            return self.answer
        return {"campaign": campaign_id, "name": "Spring offer (sample)", "state": "running", "leads": 40,
                "nodes": {
                    "start": node("start", "start", passed=40),
                    "e1": node("e1", "email", sent=40, opened=22, clicked=9, passed=40),
                    "c1": node("c1", "condition", yes=22, no=18, passed=40),
                    "e2": node("e2", "email", sent=9, opened=7, clicked=3),
                    "end1": node("end1", "end", finished=9),
                    "end2": node("end2", "end", finished=0)}}

    async def series(self, campaign_id):
        sends = [40] + [0] * 23 + [9] + [0] * 23
        opens = [0, 10, 6, 3, 2, 1] + [0] * 20 + [3, 2, 2] + [0] * 19
        clicks = [0, 3, 3, 2, 1] + [0] * 21 + [2, 1] + [0] * 20
        return {"start": 1_700_000_000_000, "bucket_ms": 2 * HOUR, "sends": sends, "opens": opens,
                "clicks": clicks}

    async def export_csv(self, campaign_id, per="lead"):
        self.exported.append(per)
        if per == "node":
            return "node,type,sent\r\ne1,email,40\r\ne2,email,9\r\n"
        return "lead,email,node\r\nana,ana@example.com,e1\r\n"


#: Closed loops stay referenced: a qasync timer still pending when its loop closes fires later
#: on the loop's timer object, which must then still exist (else Qt calls into a freed object).


@pytest.fixture
def view(qtbot, loop):
    client = FakeClient()
    widget = ReportView(client, 7)
    return shown_and_refreshed(qtbot, loop, widget, 900, 700)


def column(name):
    from app.report_view import COLUMNS

    return COLUMNS.index(name)


def test_funnel_rows_show_counts_and_rates(view):
    rows = {r[0]: r for r in view.row_texts()}
    assert list(rows) == ["start", "e1", "c1", "e2", "end1", "end2"]
    assert rows["e1"][1:5] == ["email", "40", "22  (55%)", "9  (22%)"]
    assert rows["c1"][column("Outputs")] == "YES 22 · NO 18"
    assert rows["end1"][column("Ended")] == "9"
    assert rows["start"][column("Outputs")] == "40"
    # Each row shows the figures its type has: no "sent" on a condition, no outputs on an end.
    assert rows["c1"][column("Sent")] == rows["end1"][column("Outputs")] == ""
    assert "Spring offer (sample)" in view.title.text() and "40 leads" in view.title.text()
    assert not view.branches.isVisible(), "no split: no branch table"


def test_chart_in_days_with_the_three_series(view):
    xs, ys = view.curves["sends"].getData()
    assert list(ys[:1]) == [40] and ys[24] == 9
    # 48 buckets of 2 h = 4 days: the axis counts days; the 25th bucket starts at 2 days.
    assert len(xs) == 49 and xs[24] == pytest.approx(2.0) and xs[-1] == pytest.approx(4.0)
    assert "days" in view.plot.getAxis("bottom").labelText
    assert sum(view.curves["opens"].getData()[1]) == 29
    assert sum(view.curves["clicks"].getData()[1]) == 12
    legend = view.legend.text()
    assert legend.index("Sent") < legend.index("Opened") < legend.index("Clicked")


def test_export_per_node_writes_the_chosen_file(view, loop, tmp_path, monkeypatch):
    target = tmp_path / "per-node.csv"
    monkeypatch.setattr(view, "choose_export_path", lambda per: str(target))
    view.export_node_button.click()
    loop.run_until_complete(asyncio.gather(*view._tasks))
    assert target.read_bytes() == b"node,type,sent\r\ne1,email,40\r\ne2,email,9\r\n"
    assert view.client.exported == ["node"]
    assert "Exported 2 rows per node" in view.status.text()


def test_export_per_lead_and_cancel(view, loop, tmp_path, monkeypatch):
    monkeypatch.setattr(view, "choose_export_path", lambda per: None)
    assert view.export("lead") is None
    assert view.client.exported == [], "a cancelled chooser asks the engine for nothing"
    target = tmp_path / "leads.csv"
    monkeypatch.setattr(view, "choose_export_path", lambda per: str(target))
    assert loop.run_until_complete(view.export("lead")) == target
    assert target.read_text().splitlines()[1] == "ana,ana@example.com,e1"


def test_engine_error_is_a_sentence_not_a_traceback(view, loop):
    view.client.fail = True
    loop.run_until_complete(view.refresh())
    assert view.status.text() == "Cannot read the report: the engine does not answer (ClientConnectorError)"
    assert view.table.rowCount() == 6, "the last figures stay on screen"


def test_screenshot(view, qtbot):
    ARTIFACTS.mkdir(exist_ok=True)
    qtbot.wait(50)
    assert view.grab().save(str(ARTIFACTS / "app-report.png"))


def split_figures():
    """An A/B test: 60 leads split 31/29; the machine's opens (Apple's proxy) are counted apart."""
    a = {"leads": 31, "emails": ["ea"], "sent": 31, "opened": 12, "clicked": 4, "open_rate": 12 / 31,
         "click_rate": 4 / 31}
    b = {"leads": 29, "emails": ["eb"], "sent": 29, "opened": 15, "clicked": 3, "open_rate": 15 / 29,
         "click_rate": 3 / 29}
    return {"campaign": 9, "name": "Variants", "state": "running", "leads": 60, "converted": 6,
            "machine_events": 11,
            "nodes": {
                "start": node("start", "start", passed=60),
                "ch": node("ch", "check", yes=20, no=40, passed=60, ports={"yes": 20, "no": 40}),
                "win": node("win", "window", waiting=7, passed=13),
                "s1": {**node("s1", "split", passed=60, ports={"a": 31, "b": 29}), "branches": {"a": a, "b": b}},
                "ea": node("ea", "email", sent=31, opened=12, clicked=4, machine_opened=8, machine_clicked=1),
                "eb": node("eb", "email", sent=29, opened=15, clicked=3, machine_opened=2),
                "end": node("end", "end", finished=50, failed=1)}}


def variants_flow():
    from engine.flow.fileformat import flow_from_data

    email = {"type": "email", "html": "<p>x</p>"}
    return flow_from_data({
        "format": "mailbranch.flow/1", "name": "Variants", "goal": {"click": "https://shop.example/buy"},
        "nodes": [{"id": "start", "type": "start"},
                  {"id": "ch", "type": "check", "field": "plan", "op": "equals", "value": "pro"},
                  {"id": "win", "type": "window", "days": ["mon"], "from": "09:00", "to": "17:00"},
                  {"id": "s1", "type": "split", "branches": [{"port": "a", "weight": 1}, {"port": "b", "weight": 1}]},
                  {"id": "ea", "subject": "Variant A", **email}, {"id": "eb", "subject": "Variant B", **email},
                  {"id": "end", "type": "end"}],
        "edges": [{"from": "start", "to": "ch"}, {"from": "ch", "port": "yes", "to": "win"},
                  {"from": "ch", "port": "no", "to": "s1"}, {"from": "win", "to": "s1"},
                  {"from": "s1", "port": "a", "to": "ea"}, {"from": "s1", "port": "b", "to": "eb"},
                  {"from": "ea", "to": "end"}, {"from": "eb", "to": "end"}]})


@pytest.fixture
def split_view(qtbot, loop):
    client = FakeClient()
    client.answer = split_figures()
    widget = ReportView(client, 9, flow=variants_flow())
    return shown_and_refreshed(qtbot, loop, widget, 1350, 700)


def test_a_split_shows_its_branches_side_by_side(split_view):
    view = split_view
    assert view.branches.isVisible()
    rows = view.branch_texts()
    assert [r[1:] for r in rows] == [["A", "31", "31", "12  (39%)", "4  (13%)", "8", "1"],
                                     ["B", "29", "29", "15  (52%)", "3  (10%)", "2", "0"]]
    assert rows[0][0] == rows[1][0] == "A 50% / B 50%", "the split is named as the canvas shows it"
    # The better open rate is B's, the better click rate A's: each in bold.
    assert view.branches.item(1, 4).font().bold() and not view.branches.item(0, 4).font().bold()
    assert view.branches.item(0, 5).font().bold() and not view.branches.item(1, 5).font().bold()


def test_human_and_machine_side_by_side_outputs_and_conversions(split_view):
    rows = {r[1]: r for r in split_view.row_texts()}
    email = split_view.row_texts()[4]
    assert email[column("Opened")] == "12  (39%)" and email[column("Machine opens")] == "8"
    assert email[column("Clicked")] == "4  (13%)" and email[column("Machine clicks")] == "1"
    assert rows["split"][column("Outputs")] == "A 31 · B 29"
    assert rows["check"][column("Outputs")] == "YES 20 · NO 40"
    assert rows["window"][column("Waiting")] == "7" and rows["window"][column("Outputs")] == "13"
    assert rows["end"][column("Ended")] == "51"
    assert rows["split"][column("Machine opens")] == "", "a split sends nothing"
    summary = split_view.summary.text()
    assert "Converted: 6 (10% of leads)" in summary
    assert "Machine opens and clicks (privacy proxies, link scanners): 11" in summary


def test_split_report_screenshot(split_view, qtbot):
    ARTIFACTS.mkdir(exist_ok=True)
    qtbot.wait(50)
    assert split_view.grab().save(str(ARTIFACTS / "app-report-split.png"))

"""The leads list of a run: a lead a send window holds reads when the window
opens on its own clock, whole (the row wraps rather than cut it), and a
converted lead reads when it converted."""

from __future__ import annotations

from app.leads_panel import LeadsPanel
from engine.flow.fileformat import flow_from_data

HOUR = 3_600_000
WINDOW = {"node": "win", "opens_at": 14 * HOUR, "opens_local": "Mon 09:00", "zone": "Asia/Tokyo",
          "text": "opens Mon 09:00 local"}
FLOW = flow_from_data({
    "format": "mailbranch.flow/1", "name": "Held",
    "nodes": [{"id": "start", "type": "start"},
              {"id": "win", "type": "window", "days": ["mon"], "from": "09:00", "to": "17:00"},
              {"id": "e1", "type": "email", "subject": "Hi", "html": "<p>x</p>"}, {"id": "end", "type": "end"}],
    "edges": [{"from": "start", "to": "win"}, {"from": "win", "to": "e1"}, {"from": "e1", "to": "end"}]})


class NoEngine:
    client = None


def lead(key, node, window=None, converted_at=None, state="waiting"):
    return {"key": key, "email": f"{key}@example.com", "unsubscribed": False, "converted_at": converted_at,
            "tokens": [{"id": 1, "parent": None, "node": node, "state": state, "tracked": True, "window": window}]}


def test_held_and_converted_leads_read_as_such_on_a_laptop_wide_panel(qtbot):
    panel = LeadsPanel(NoEngine(), 1, FLOW)
    qtbot.addWidget(panel)
    panel.origin = 0
    panel.resize(410, 600)
    panel.show()
    qtbot.waitExposed(panel)
    panel._fill({"total": 3, "leads": [lead("kai", "win", WINDOW), lead("lou", "e1"),
                                       lead("max", "e1", converted_at=26 * HOUR, state="finished")]})
    rows = [panel.tree.topLevelItem(i) for i in range(3)]
    assert [r.text(2) for r in rows] == ["waiting for the window (opens Mon 09:00 local)", "in progress",
                                         "converted at 1d 02:00"]
    assert "Asia/Tokyo" in rows[0].toolTip(2)
    # The path itself says it too.
    assert rows[0].child(0).text(2) == "waiting for the window (opens Mon 09:00 local)"
    # The whole sentence shows: its row wraps to more lines instead of ending in "…".
    qtbot.waitUntil(lambda: panel.tree.visualItemRect(rows[0]).height()
                    > 1.5 * panel.tree.visualItemRect(rows[1]).height(), timeout=2000)
    # ...and the addresses keep their room.
    assert panel.tree.columnWidth(0) >= 150

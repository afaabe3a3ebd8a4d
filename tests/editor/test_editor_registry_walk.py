"""Every registered node type works in the editor end to end.

The test walks the registry (``engine.nodes``), so a new type is covered the
day it is registered: it is dropped from the palette, connected (after an
email, every output port to an End, or for a condition's NO path to a Wait
first), configured through its inspector page where its defaults are not
enough, saved, reopened, and simulated by the engine.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtTest import QTest

from editor import style
from editor.node_views import view_for
from engine.flow.fileformat import load_flow
from engine.nodes.base import Role
from engine.nodes.registry import node_type, type_names
from engine.run.engine import LeadInput
from engine.sim.simulate import SIM_START, simulate

#: What a user types into a required control the type gives no default (by ``Setting.kind``).
TYPED = {"field": "country", "value": "FR", "text": "x", "template": "Hello"}


def configure(c, node_id):
    """Fill the settings that have no value yet, through the inspector's controls."""
    c.click_node(node_id)
    page = c.editor.inspector.current
    node = c.doc.node(node_id)
    for setting in node_type(node.type).settings:
        if node.get(setting.key) is not None or setting.kind not in TYPED or setting.key not in page.editors:
            continue
        control = page.editors[setting.key]
        line = getattr(control, "line", None) or control.combo.lineEdit()
        line.setFocus()
        QTest.keyClicks(line, TYPED[setting.kind])


@pytest.mark.parametrize("type_name", type_names())
def test_every_registered_type_drops_connects_saves_reopens_and_simulates(canvas, tmp_path, type_name):
    c = canvas
    kind = node_type(type_name)
    view = view_for(type_name)
    assert view.name == type_name, f"{type_name} has no view descriptor in editor/node_views"
    assert (style.ICONS / f"{view.icon}.svg").is_file(), f"resources/icons/{view.icon}.svg is missing"
    assert c.editor.palette.item_for(type_name).text() == view.title
    email = c.drop_from_palette("email", QPointF(280, 0))
    c.connect("start", "next", email)
    dropped = c.drop_from_palette(type_name, QPointF(560, 0))
    item = c.scene.nodes[dropped]
    assert set(item.ports) == set(c.doc.node(dropped).ports)
    if kind.is_entry:  # a flow has one entry: the dropped one goes again, the walk uses the flow's own
        c.editor.actions["undo"].trigger()
        assert dropped not in c.doc.flow
        node_id = "start"
    else:
        node_id = dropped
        c.connect(email, "next", node_id)
    for index, port in enumerate(kind.ports(c.doc.node(node_id))):
        if node_id == "start":
            break
        y = index * 140 - 100
        target = c.drop_from_palette("end", QPointF(900, y))
        if port.role == Role.TIMEOUT:  # a condition's NO path starts with a wait
            wait = c.drop_from_palette("wait", QPointF(900, y + 60))
            c.connect(node_id, port.name, wait)
            c.connect(wait, "next", target)
        else:
            c.connect(node_id, port.name, target)
    if not kind.is_exit and node_id != "start":
        assert all(p in {e.port for e in c.doc.flow.out_edges(node_id)} for p in c.doc.node(node_id).ports)
    if not kind.is_exit:
        configure(c, node_id)
    end = c.drop_from_palette("end", QPointF(560, 300)) if node_id == "start" else None
    if end is not None:
        c.connect(email, "next", end)
    c.settle()
    assert c.doc.findings == [], [f.message for f in c.doc.findings]

    path = tmp_path / f"{type_name}.json"
    assert c.window.save_to(path)
    settings = dict(c.doc.node(node_id).settings)
    assert c.window.open_path(path, ask=False)
    assert c.doc.node(node_id).type == type_name and c.doc.node(node_id).settings == settings
    assert set(c.scene.nodes[node_id].ports) == set(c.doc.node(node_id).ports)
    c.click_node(node_id)
    assert c.editor.inspector.node_id == node_id

    leads = [LeadInput("fr", "fr@example.com", {"country": "FR"}), LeadInput("be", "be@example.com", {"country": "BE"})]
    result = simulate(load_flow(path), leads, start=SIM_START)
    assert result.complete_at is not None
    assert {s["lead"] for s in result.sends if s["node"] == email} == {"fr", "be"}
    assert all(t["state"] in ("finished", "done") for t in result.tokens), result.tokens

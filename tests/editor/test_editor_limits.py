"""The editor opens flows that would crash a run, shows why on the canvas, and saves them
(issue 10, item 8): its live validation is the engine's ``validate``."""

from __future__ import annotations

import copy
import json

from engine.flow.fileformat import load_flow
from tests.flows import SEMANTICS_EXAMPLE


def test_the_canvas_shows_each_problem_and_the_file_saves_and_reopens(canvas, tmp_path):
    data = copy.deepcopy(SEMANTICS_EXAMPLE)
    nodes = {n["id"]: n for n in data["nodes"]}
    nodes["e1"]["subject"] = "Hi \ud800"
    nodes["e2"]["html"] = "<p>{{ 'a' * 1000000000 }}</p>"
    nodes["w1"]["duration"] = "99999999999999999999d"
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    assert canvas.window.open_path(path)
    canvas.settle()
    for node_id in ("e1", "e2", "w1"):
        assert "bad-setting" in canvas.codes_on(node_id), node_id
    messages = " ".join(f.message for f in canvas.doc.findings)
    assert "invalid character" in messages and "365 days" in messages and "broken template" in messages

    canvas.click_node("e2")  # the preview tries the template and says why it cannot
    assert "cannot be rendered" in canvas.editor.inspector.current.preview.toPlainText()

    assert canvas.window.save_to(path)
    assert load_flow(path).node("e1").get("subject") == "Hi \ud800"

"""Every registered node type can be written, checked, saved, read back and run;
and the engine's shared modules ask the registry instead of naming types."""

import re
from pathlib import Path

import pytest

from engine.flow.fileformat import dumps_flow, loads_flow
from engine.flow.validate import validate
from engine.nodes.base import Role
from engine.nodes.registry import node_type, node_types
from engine.run.engine import LeadInput
from engine.sim.simulate import simulate
from tests.flows import edge, email, flow

ROOT = Path(__file__).resolve().parents[2]
MIDDLE = [d for d in node_types() if not d.is_entry and not d.is_exit]


def flow_through(descriptor):
    """start -> e1 -> the type with its defaults -> every port -> end (a timeout port through a wait)."""
    node = {"id": "x1", "type": descriptor.name, **descriptor.example()}
    nodes = [{"id": "start", "type": "start"}, email("e1"), node]
    edges = [edge("start", "e1"), edge("e1", "x1")]
    built = flow(nodes, edges)
    for index, port in enumerate(descriptor.ports(built.node("x1"))):
        end = f"end{index}"
        nodes.append({"id": end, "type": "end"})
        if port.role == Role.TIMEOUT:
            nodes.append({"id": f"w{index}", "type": "wait", "duration": "1d"})
            edges += [edge("x1", f"w{index}", port.name), edge(f"w{index}", end)]
        else:
            edges.append(edge("x1", end, port.name))
    return flow(nodes, edges)


@pytest.mark.parametrize("descriptor", MIDDLE, ids=[d.name for d in MIDDLE])
def test_each_type_with_its_defaults_validates_saves_reloads_and_runs(descriptor):
    f = flow_through(descriptor)
    assert [x for x in validate(f) if x.is_error] == []
    again = loads_flow(dumps_flow(f))
    assert dumps_flow(again) == dumps_flow(f)
    assert again.node("x1").settings == f.node("x1").settings
    result = simulate(again, [LeadInput(f"lead-{i}") for i in range(20)], start="2026-12-02T10:00:00+00:00")
    assert len([s for s in result.sends if s["node"] == "e1"]) == 20
    assert result.complete_at is not None
    assert all(t["state"] == "finished" for t in result.tokens)


def test_every_type_describes_itself():
    names = [d.name for d in node_types()]
    assert len(names) == len(set(names))
    assert sum(d.is_entry for d in node_types()) == 1
    for d in node_types():
        assert d.title and d.description and d.id_prefix
        assert len({s.key for s in d.settings}) == len(d.settings)
        node = flow_through(d).node("x1") if d in MIDDLE else None
        if node is not None:
            ports = d.ports(node)
            assert len({p.name for p in ports}) == len(ports) >= 1
            assert isinstance(d.summary(node, flow_through(d)), str)
    assert node_type("no-such-type").ports(None) == ()


def test_shared_engine_modules_name_no_node_type():
    names = "|".join(d.name for d in node_types())
    comparison = re.compile(rf"""(type|node_type|kind)\s*(==|!=|in)\s*\(?\s*["']({names})["']""")
    shared = [*ROOT.glob("engine/run/*.py"), *ROOT.glob("engine/sim/*.py"), ROOT / "engine/flow/validate.py",
              ROOT / "engine/flow/fileformat.py", ROOT / "engine/flow/model.py"]
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in shared
                 for n, line in enumerate(p.read_text().splitlines(), 1) if comparison.search(line)]
    assert offenders == []

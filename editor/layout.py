"""Automatic left-to-right layout for flows written without positions.

Columns are networkx's topological generations (for a flow with a loop, the
generations of its condensation), rows are ordered by the average row of a
node's parents so branches stay beside where they leave, YES above NO.
"""

from __future__ import annotations

import networkx as nx

from editor.style import GRID, LAYOUT_DX, LAYOUT_DY
from engine.flow.model import Flow


def _port_bias(flow: Flow, edge) -> float:  # noqa: ANN001 - an Edge
    """Where a port sits among its node's ports, from -0.25 (first) to 0.25 (last):
    the first port's branch goes above, the last one's below."""
    ports = flow.node(edge.source).ports
    if len(ports) < 2 or edge.port not in ports:
        return 0.0
    return -0.25 + 0.5 * ports.index(edge.port) / (len(ports) - 1)


def layered_positions(flow: Flow) -> dict[str, list[int]]:
    """A position ``[x, y]`` (top-left, on the grid) for every node."""
    graph = nx.DiGraph()
    graph.add_nodes_from(n.id for n in flow.nodes)
    port_bias: dict[str, float] = {}
    for edge in flow.edges:
        if edge.source in graph and edge.target in graph and edge.source != edge.target:
            graph.add_edge(edge.source, edge.target)
            port_bias.setdefault(edge.target, _port_bias(flow, edge))
    condensed = nx.condensation(graph)
    members = condensed.graph["mapping"]  # node -> component
    component_layer: dict[int, int] = {}
    for depth, generation in enumerate(nx.topological_generations(condensed)):
        for component in generation:
            component_layer[component] = depth
    # Longest-path layering pushes a join to the right of all its parents.
    layer = {n: component_layer[members[n]] for n in graph.nodes}
    columns: dict[int, list[str]] = {}
    for node_id in graph.nodes:
        columns.setdefault(layer[node_id], []).append(node_id)
    order_of = {n.id: i for i, n in enumerate(flow.nodes)}
    row: dict[str, float] = {}
    positions: dict[str, list[int]] = {}
    for depth in sorted(columns):
        nodes = columns[depth]

        def key(node_id: str) -> tuple[float, int]:
            parents = [row[p] for p in graph.predecessors(node_id) if p in row]
            centre = sum(parents) / len(parents) if parents else 0.0
            return (centre + port_bias.get(node_id, 0.0), order_of[node_id])

        nodes.sort(key=key)
        wanted = [key(n)[0] for n in nodes]
        # Place rows near their parents, at least one row apart, centred as a column.
        placed: list[float] = []
        for want in wanted:
            placed.append(max(want, placed[-1] + 1) if placed else want)
        shift = (sum(wanted) - sum(placed)) / len(placed) if placed else 0.0
        for node_id, value in zip(nodes, placed, strict=True):
            row[node_id] = value + shift
        for node_id in nodes:
            x = depth * LAYOUT_DX
            y = round(row[node_id] * LAYOUT_DY / GRID) * GRID
            positions[node_id] = [x, y]
    # Keep the whole drawing above-left anchored at (0, 0).
    if positions:
        min_y = min(p[1] for p in positions.values())
        for p in positions.values():
            p[1] -= min_y
    return positions


def has_positions(flow: Flow) -> bool:
    return all(_valid(n.extra.get("position")) for n in flow.nodes)


def _valid(position: object) -> bool:
    return (isinstance(position, list) and len(position) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in position))


def apply_missing_positions(flow: Flow) -> bool:
    """Give every node without a usable position one from the layered layout.

    Writes ``extra["position"]`` in place (before the flow is shown, so it is
    not an undoable edit). Returns True if anything was placed.
    """
    missing = [n for n in flow.nodes if not _valid(n.extra.get("position"))]
    if not missing:
        return False
    laid = layered_positions(flow)
    if len(missing) < len(flow.nodes):
        # Put newcomers below what the author placed, so nothing overlaps.
        placed = [n.extra["position"] for n in flow.nodes if _valid(n.extra.get("position"))]
        below = max(p[1] for p in placed) + 2 * LAYOUT_DY
        for n in missing:
            x, y = laid[n.id]
            n.extra["position"] = [x, y + below]
    else:
        for n in missing:
            n.extra["position"] = laid[n.id]
    return True

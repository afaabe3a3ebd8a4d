"""The flow document: what the marketer drew (the spec), never the run."""

from engine.flow.durations import DurationError, format_duration, parse_duration
from engine.flow.fileformat import FlowFileError, dumps_flow, load_flow, loads_flow, save_flow
from engine.flow.model import Edge, Flow, Node, node_types
from engine.flow.validate import Finding, validate

__all__ = [
    "DurationError", "Edge", "Finding", "Flow", "FlowFileError", "Node", "node_types", "dumps_flow", "format_duration", "load_flow", "loads_flow",
    "parse_duration", "save_flow", "validate",
]

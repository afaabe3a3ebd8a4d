"""The flow document: what the marketer drew (the spec), never the run."""

from engine.flow.durations import DurationError, format_duration, parse_duration
from engine.flow.fileformat import FlowFileError, dumps_flow, load_flow, loads_flow, save_flow
from engine.flow.model import NODE_TYPES, OUTPUT_PORTS, Edge, Flow, Node
from engine.flow.validate import Finding, validate

__all__ = [
    "DurationError", "Edge", "Finding", "Flow", "FlowFileError", "NODE_TYPES", "Node",
    "OUTPUT_PORTS", "dumps_flow", "format_duration", "load_flow", "loads_flow",
    "parse_duration", "save_flow", "validate",
]

"""Structured logs: one line per operation (send, event, trigger, timer, failure).

Every operation logs through the ``mailbranch.ops`` logger with its fields
in ``extra`` (``op``, ``campaign``, ``lead``, ``token``, ...). The text
format prints them as ``key=value``; ``--log-json`` (or
``MAILBRANCH_LOG_JSON=1``) prints one JSON object a line. Secrets never
reach a log line: the fields are ids, node ids and times, and SMTP URLs are
written without their password.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

OPS = logging.getLogger("mailbranch.ops")
FIELDS = ("op", "campaign", "lead", "token", "node", "send", "condition", "new_token", "type", "due", "lag_ms",
          "reason", "attempt", "code")


def op(name: str, **fields: Any) -> None:
    """Log one operation (callers check ``OPS.isEnabledFor(INFO)`` on hot paths)."""
    OPS.info(name, extra={"op": name, **fields})


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname.lower()} {record.name}: " \
               f"{record.getMessage()}"
        pairs = [f"{k}={getattr(record, k)}" for k in FIELDS[1:] if getattr(record, k, None) is not None]
        return base + (" " + " ".join(pairs) if pairs else "")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                "logger": record.name, "msg": record.getMessage()}
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure(json_lines: bool | None = None, level: int = logging.INFO) -> None:
    if json_lines is None:
        json_lines = os.environ.get("MAILBRANCH_LOG_JSON", "") not in ("", "0")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else KeyValueFormatter())
    root = logging.getLogger("mailbranch")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False

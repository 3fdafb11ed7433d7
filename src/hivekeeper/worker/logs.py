"""Structured log lines: one JSON object per line with swarmId, role, instance (and correlationId)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from hivekeeper.protocol.redaction import redact_text

FIELDS = ("swarmId", "role", "instance", "correlationId", "inFlight", "graceSeconds")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            # One redaction rule for logs too: a message quoting a header or a form never shows a credential.
            "message": redact_text(record.getMessage()),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = redact_text(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)

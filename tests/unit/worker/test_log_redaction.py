"""Worker log lines follow the one redaction rule (protocol.redaction), message and traceback alike."""

from __future__ import annotations

import logging

import orjson

from hivekeeper.worker.logs import JsonFormatter


def _line(message: str, *args: object, exc: BaseException | None = None) -> dict[str, object]:
    record = logging.LogRecord("hivekeeper.worker", logging.WARNING, __file__, 1, message, args, None)
    if exc is not None:
        record.exc_info = (type(exc), exc, None)
    return dict(orjson.loads(JsonFormatter().format(record)))


def test_a_message_quoting_a_credential_shows_it_redacted() -> None:
    line = _line("SUT refused %s with %s", "GET /me", "Authorization: Bearer eyJ.abc")
    assert line["message"] == "SUT refused GET /me with Authorization: Bearer [redacted]"


def test_an_exception_text_is_redacted_too() -> None:
    line = _line("template failed", exc=ValueError("bad form token=t-123&x=1"))
    assert "t-123" not in str(line["exception"])
    assert "token=[redacted]&x=1" in str(line["exception"])

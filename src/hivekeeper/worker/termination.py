"""The worker's termination message: why it ended, where Kubernetes reads it (``protocol.health``).

Written in two cases: a fatal start error the worker names (``fatal: ...``), and the liveness check that is
about to get it restarted (``unhealthy: ...``). Never more than ``MAX_TERMINATION_MESSAGE`` bytes, never a
credential (URLs in it lose their password, and the broker and Redis passwords of the environment are
blanked wherever they appear), and writing it never raises: a worker that cannot say why it ends still ends
for the reason it had.

Where: ``HIVEKEEPER_TERMINATION_LOG`` when set ('' writes none; the file is created when missing), else
``/dev/termination-log`` only when it exists (Kubernetes creates it in every container; outside one, a
local run must not create a file under ``/dev``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hivekeeper.protocol.health import MAX_TERMINATION_MESSAGE, TERMINATION_LOG, TERMINATION_LOG_VARIABLE
from hivekeeper.protocol.redaction import redact_text

log = logging.getLogger("hivekeeper.worker")

SECRET_URL_VARIABLES = ("HIVEKEEPER_AMQP_URL", "HIVEKEEPER_REDIS_URL")
"""The variables whose URLs carry passwords: those passwords never reach a termination message."""
HIDDEN = "***"
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:)[^\s/@]*@")
_SHORTEST_SECRET = 3
"""Shorter passwords are not blanked where they appear alone (they would blank every ``a``); in URLs they are."""


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without credentials: URL passwords, ``password=...``-like pairs and each of ``secrets``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{HIDDEN}@", text)
    for secret in sorted((s for s in secrets if len(s) >= _SHORTEST_SECRET), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return redact_text(text)


def clip(message: str, limit: int = MAX_TERMINATION_MESSAGE) -> bytes:
    """``message`` in UTF-8, cut to at most ``limit`` bytes without splitting a character."""
    data = message.encode()
    if len(data) <= limit:
        return data
    return data[:limit].decode(errors="ignore").encode()


def _passwords(environ: Mapping[str, str]) -> tuple[str, ...]:
    found: list[str] = []
    for name in SECRET_URL_VARIABLES:
        try:
            password = urlsplit(environ.get(name, "")).password
        except ValueError:  # a malformed URL: its own variable's check says so
            continue
        if password:
            found += [password, unquote(password)]
    return tuple(found)


@dataclass(frozen=True)
class TerminationLog:
    """Where this worker writes its termination message, and the secrets it keeps out of it."""

    path: Path | None
    """None: no message is written."""
    create: bool = False
    """Create the file when it is missing (a path set by the variable); else write only an existing one."""
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TerminationLog:
        secrets = _passwords(environ)
        value = environ.get(TERMINATION_LOG_VARIABLE)
        if value is None:
            return cls(Path(TERMINATION_LOG), create=False, secrets=secrets)
        return cls(Path(value) if value.strip() else None, create=True, secrets=secrets)

    def write(self, prefix: str, reason: str) -> bool:
        """Write ``prefix`` + ``reason`` (scrubbed, clipped) in place of what was there; False when nothing was
        written (no path, no such file, not writable). Never raises."""
        return self._put(clip(prefix + scrub(reason, self.secrets)))

    def clear(self) -> bool:
        """Empty the message (the reason written no longer holds); never raises."""
        return self._put(b"")

    def _put(self, data: bytes) -> bool:
        if self.path is None:
            return False
        try:
            if not self.create and not self.path.exists():
                return False
            with self.path.open("wb") as out:
                out.write(data)
            return True
        except Exception as exc:  # a message we cannot write must not change how the worker ends
            log.warning("cannot write the termination message to %s: %s", self.path, exc)
            return False

"""The operator core's errors. handlers.py (the kopf adapter) maps them to kopf's types, nothing else does.

- :class:`RetryLater`: the step cannot finish now and is worth retrying (kopf ``TemporaryError``).
- :class:`InvalidResource`: the object cannot be read as the model says; retrying the same object cannot
  help, only an edit can (kopf ``PermanentError``).
- :class:`SettingsError`: the operator's environment is wrong; it does not start.
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error the operator core raises on purpose."""


class RetryLater(OperatorError):
    """Not done yet; run the handler again after ``delay`` seconds. The message says what is awaited and
    how a person can end the wait."""

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class InvalidResource(OperatorError):
    """A Swarm, WorkerRole or Pod body that does not match its model (named with the field and the value)."""


class SettingsError(OperatorError):
    """An operator setting (environment variable) is missing or malformed; the message names it and the fix."""

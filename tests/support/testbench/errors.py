"""One error type for the bench, rendered as one line that names the service, command and error."""

from __future__ import annotations


class BenchError(RuntimeError):
    """A service of the test bench could not be installed, built or started.

    The message is a single line so that ``make test`` ends with something a human can act on:
    the service, the command that failed, and what it said.
    """

    def __init__(self, service: str, command: str, error: str) -> None:
        self.service = service
        self.command = command
        self.error = " ".join(error.split())[-600:]
        shown = command if len(command) <= 160 else command[:157] + "..."
        super().__init__(f"test bench: {service}: `{shown}` failed: {self.error}")

"""Alert throttling: the first occurrence of a code is sent at once, repeats are summed per window.

A processor whose SUT is down fails thousands of requests a second; one alert per code per window
(with the count of what it stands for) keeps the control plane quiet and the hot path free of
per-item publishing. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hivekeeper.protocol.envelope import AlertLevel

WINDOW_SECONDS = 5.0


@dataclass
class PendingAlert:
    code: str
    message: str
    context: dict[str, Any]
    level: AlertLevel
    count: int = 1


@dataclass
class AlertThrottle:
    window: float = WINDOW_SECONDS
    _last_sent: dict[str, float] = field(default_factory=dict)
    _pending: dict[str, PendingAlert] = field(default_factory=dict)

    def offer(
        self, now: float, code: str, message: str, context: dict[str, Any], level: AlertLevel = "error"
    ) -> PendingAlert | None:
        """Return the alert to send now, or None when it is folded into the window's count."""
        last = self._last_sent.get(code)
        if last is None or now - last >= self.window:
            self._last_sent[code] = now
            return PendingAlert(code, message, context, level)
        pending = self._pending.get(code)
        if pending is None:
            self._pending[code] = PendingAlert(code, message, context, level)
        else:
            pending.count += 1
            pending.message = message
        return None

    def flush(self, now: float) -> list[PendingAlert]:
        """Alerts whose window has passed, each with how many occurrences it summarises."""
        due = [code for code in self._pending if now - self._last_sent.get(code, 0.0) >= self.window]
        out = []
        for code in due:
            alert = self._pending.pop(code)
            self._last_sent[code] = now
            alert.context = {**alert.context, "occurrences": alert.count}
            out.append(alert)
        return out

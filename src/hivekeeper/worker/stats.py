"""Counters and a latency histogram cheap enough to update on every request.

The histogram is log-linear over microseconds (like HDR histograms at 4 significant bits): each
power of two is split into 16 buckets, so any recorded value is reported within ~6 %. Recording
is a couple of integer operations and a list increment; no allocation, no lock (one event loop). The
bucket scheme and the histogram's wire form (what a status report carries, mergeable across instances)
are in :mod:`hivekeeper.protocol.latency`; the Prometheus buckets are derived from these counts at
scrape time (:mod:`hivekeeper.worker.metrics`), never per request.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hivekeeper.protocol.latency import SUB, SUB_BITS, LatencyHistogram, LatencyReport, bucket_upper_us
from hivekeeper.worker.result_counts import ResultTally

_BUCKETS = 64 * SUB


class Histogram:
    __slots__ = ("count", "counts", "max_us", "total_us")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.count = 0
        self.total_us = 0
        self.max_us = 0

    def record(self, seconds: float) -> None:
        micros = int(seconds * 1_000_000)
        if micros < SUB:
            index = max(micros, 0)
        else:  # protocol.latency.bucket_index() inlined: this runs once per request
            exponent = micros.bit_length() - SUB_BITS - 1
            index = ((exponent + 1) << SUB_BITS) + ((micros >> exponent) & (SUB - 1))
        self.counts[index] += 1
        self.count += 1
        self.total_us += micros
        self.max_us = max(self.max_us, micros)

    def percentile(self, pct: float) -> float:
        """The value (ms) below which ``pct`` percent of the recordings fall; 0 when empty."""
        if not self.count:
            return 0.0
        rank = max(1, round(self.count * pct / 100.0))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min(bucket_upper_us(index), self.max_us) / 1000.0
        return self.max_us / 1000.0

    def mean_ms(self) -> float:
        return self.total_us / self.count / 1000.0 if self.count else 0.0

    def merge(self, other: Histogram) -> None:
        for index, n in enumerate(other.counts):
            if n:
                self.counts[index] += n
        self.count += other.count
        self.total_us += other.total_us
        self.max_us = max(self.max_us, other.max_us)

    def copy(self) -> Histogram:
        other = Histogram()
        other.counts = self.counts.copy()
        other.count, other.total_us, other.max_us = self.count, self.total_us, self.max_us
        return other

    def since(self, earlier: Histogram) -> Histogram:
        """What was recorded after ``earlier`` (a :meth:`copy` of this histogram) was taken.

        The window's maximum is the upper bound of its highest bucket (within ~6%), capped by the overall
        maximum: the exact value is not kept per window.
        """
        window = Histogram()
        window.counts = [now - then for now, then in zip(self.counts, earlier.counts, strict=True)]
        window.count = self.count - earlier.count
        window.total_us = self.total_us - earlier.total_us
        top = next((i for i in range(_BUCKETS - 1, -1, -1) if window.counts[i]), None)
        window.max_us = 0 if top is None else min(bucket_upper_us(top), self.max_us)
        return window

    def to_wire(self) -> LatencyHistogram:
        """The sparse, bounded wire form (status reports); see :mod:`hivekeeper.protocol.latency`."""
        return LatencyHistogram.from_dense(self.counts, self.total_us, self.max_us)

    def summary(self) -> dict[str, float]:
        return {
            "p50": round(self.percentile(50), 3),
            "p95": round(self.percentile(95), 3),
            "p99": round(self.percentile(99), 3),
            "max": round(self.max_us / 1000.0, 3),
            "mean": round(self.mean_ms(), 3),
        }


@dataclass
class AuthStats:
    """Token fetches and 401 retries, kept apart from the calls to the system under test: a token request is
    never in ``RoleStats.latency`` nor in its status codes."""

    token_fetches: int = 0
    """Token requests that returned a token."""
    token_errors: int = 0
    """Token requests that failed (after their retries); the calls waiting for them failed with kind ``auth``."""
    token_latency: Histogram = field(default_factory=Histogram)
    """Time of each successful token request (its retries included)."""
    unauthorized_retries: int = 0
    """Calls the SUT answered 401 that were sent again once with a fresh token."""

    def snapshot(self) -> dict[str, object]:
        out: dict[str, object] = {
            "tokenFetches": self.token_fetches,
            "tokenFetchErrors": self.token_errors,
            "unauthorizedRetries": self.unauthorized_retries,
        }
        if self.token_latency.count:
            out["tokenFetchMs"] = self.token_latency.summary()
        return out

    def __bool__(self) -> bool:
        return bool(self.token_fetches or self.token_errors or self.unauthorized_retries)


@dataclass
class RoleStats:
    """What a role has done since it started; the runtime derives tps from successive snapshots."""

    processed: int = 0
    errors: int = 0
    dropped: int = 0
    in_flight: int = 0
    latency: Histogram = field(default_factory=Histogram)
    step_latency: dict[str, Histogram] = field(default_factory=dict)
    """Per step id, for roles whose calls are steps (http-sequence); each call is also in ``latency``."""
    statuses: Counter[int] = field(default_factory=Counter)
    error_kinds: Counter[str] = field(default_factory=Counter)
    truncated: int = 0
    """HTTP responses whose body exceeded maxResponseBytes (the rest was read and discarded)."""
    redelivered: int = 0
    drop_reasons: Counter[str] = field(default_factory=Counter)
    """Dropped items by alert code (work.invalid-item, template.budget-exceeded, work.poison, ...)."""
    """Items the broker delivered again (after a restart or a lost connection): possibly duplicates downstream."""
    auth: AuthStats = field(default_factory=AuthStats)
    """Token fetches and 401 retries (auth profiles), apart from the SUT calls."""
    results: ResultTally = field(default_factory=ResultTally)
    """Results by business code and dimension value (result rules; bounded keys)."""
    tcp_replies: Counter[str] = field(default_factory=Counter)
    """Complete TCP replies by behaviour (a failed call is in ``error_kinds`` under its ``tcp-*`` kind)."""
    tcp_connect: Histogram = field(default_factory=Histogram)
    """Time to open each new TCP connection (connect retries and a TLS handshake included; reuse costs none)."""

    def step(self, step_id: str) -> Histogram:
        """The latency histogram of one step (created at its first call)."""
        histogram = self.step_latency.get(step_id)
        if histogram is None:
            histogram = self.step_latency[step_id] = Histogram()
        return histogram

    def snapshot(self, recent: Histogram | None = None) -> dict[str, object]:
        """Counters since start; ``latencyMs`` from ``recent`` (the last status interval's latencies) when
        given, so that a status shows how the SUT answers now, and ``latencyMsSinceStart`` for the run;
        ``latencyHistogram`` is the mergeable form since start (the role's and its steps')."""
        out: dict[str, object] = {
            "processed": self.processed,
            "errors": self.errors,
            "dropped": self.dropped,
            "inFlight": self.in_flight,
        }
        if recent is None:
            if self.latency.count:
                out["latencyMs"] = self.latency.summary()
        else:
            if recent.count:
                out["latencyMs"] = recent.summary()
            if self.latency.count:
                out["latencyMsSinceStart"] = self.latency.summary()
        if self.latency.count or self.step_latency:
            steps = ((step, histogram.to_wire()) for step, histogram in self.step_latency.items())
            out["latencyHistogram"] = LatencyReport.build(self.latency.to_wire(), steps).to_json()
        if self.statuses:
            out["statusCodes"] = {str(code): n for code, n in sorted(self.statuses.items())}
        if self.error_kinds:
            out["errorKinds"] = dict(self.error_kinds)
        if self.truncated:
            out["responsesTruncated"] = self.truncated
        if self.redelivered:
            out["redelivered"] = self.redelivered
        if self.drop_reasons:
            out["droppedBy"] = dict(self.drop_reasons)
        if self.auth:
            out["auth"] = self.auth.snapshot()
        out.update(self.results.snapshot())  # only the keys that have counts
        out.update(self._tcp())
        return out

    def _tcp(self) -> dict[str, object]:
        """The TCP calls' own keys (none for a role that made none)."""
        out: dict[str, object] = {}
        if self.tcp_replies:
            out["tcpReplies"] = dict(self.tcp_replies)
        if self.tcp_connect.count:
            out["tcpConnectMs"] = self.tcp_connect.summary()
        return out

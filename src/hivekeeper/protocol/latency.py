"""Latency histograms on the wire: the bucket scheme, and the compact, bounded, mergeable form a worker's
status report carries (``context.latencyHistogram``).

Scheme 1 is log-linear over whole microseconds (HDR-like, 4 significant bits): values below 16 µs have a
bucket each; above, every power of two is split into 16 equal buckets, so a value is known within ~6 %.
Bucket ``i``'s upper bound is :func:`bucket_upper_us`. Counts of the same scheme add up, so the histograms
of many instances (or many status intervals) merge exactly, unlike their percentiles.

On the wire a histogram is sparse, ``{"counts": {"<index>": n, ...}, "sumUs": s, "maxUs": m}`` (non-zero
buckets only), and every histogram is cumulative since the worker started: a lost report loses nothing,
and the window between two reports is their difference (:meth:`LatencyHistogram.since`).

Bounds (checked by the reader: anyone holding a broker credential can publish a status):
- a histogram has at most :data:`WIRE_BUCKETS` (512) buckets: indices above 511 (values above ~9.5 hours)
  are folded into bucket 511 when encoded;
- a report carries at most :data:`MAX_STEPS` step histograms with ids of at most :data:`STEP_ID_LIMIT`
  characters, and at most :data:`MAX_ENTRIES` buckets in all (the role's first, then the steps in order
  while they fit; the others are counted in ``stepsOmitted``);
- so its JSON is at most :data:`MAX_REPORT_BYTES` (64 KiB): an entry is at most 24 bytes
  (``"511":9007199254740992,``); in practice a few KB (7 KB for a role and 3 steps whose latencies
  spread over 3-4 decades).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

SCHEME: Literal[1] = 1
"""The bucket scheme's version; a reader refuses a scheme it does not know."""
SUB_BITS = 4
SUB = 1 << SUB_BITS
WIRE_BUCKETS = 512
MAX_STEPS = 64
STEP_ID_LIMIT = 64
MAX_ENTRIES = 2048
MAX_COUNT = 2**53
"""Counts above this are refused (JSON readers lose integer precision beyond it)."""
MAX_MICROS = 2**63 - 1
MAX_REPORT_BYTES = 64 * 1024


def bucket_index(micros: int) -> int:
    """The bucket of a value in whole microseconds (negative values count as 0)."""
    if micros < SUB:
        return max(micros, 0)
    exponent = micros.bit_length() - SUB_BITS - 1
    return ((exponent + 1) << SUB_BITS) + ((micros >> exponent) & (SUB - 1))


def bucket_upper_us(index: int) -> int:
    """The largest value (µs) that falls in bucket ``index``."""
    if index < SUB:
        return index
    exponent = (index >> SUB_BITS) - 1
    mantissa = index & (SUB - 1)
    return ((SUB + mantissa + 1) << exponent) - 1


def _wire_upper_us(index: int, max_us: int) -> int:
    """A wire bucket's upper bound, capped by the maximum; the last one is open-ended (it holds the folded ones)."""
    return max_us if index >= WIRE_BUCKETS - 1 else min(bucket_upper_us(index), max_us)


def _counts(value: object) -> dict[int, int]:
    """``{"<index>": count}`` with decimal-digit keys in 0..511 and whole counts in 1..2**53."""
    if not isinstance(value, Mapping):
        raise ValueError(f"counts must be an object of bucket index to count, got {type(value).__name__}")
    if len(value) > WIRE_BUCKETS:
        raise ValueError(f"counts has {len(value)} buckets; at most {WIRE_BUCKETS}")
    out: dict[int, int] = {}
    for key, count in value.items():
        text = str(key) if isinstance(key, int) and not isinstance(key, bool) else key
        if not isinstance(text, str) or not text.isdecimal() or len(text) > 3 or int(text) >= WIRE_BUCKETS:
            raise ValueError(f"bucket index {key!r} must be a whole number from 0 to {WIRE_BUCKETS - 1}")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_COUNT:
            raise ValueError(f"bucket {text} count {count!r} must be a whole number from 1 to {MAX_COUNT}")
        out[int(text)] = count
    return out


def _micros(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MICROS:
        raise ValueError(f"{value!r} must be a whole number of microseconds from 0 to {MAX_MICROS}")
    return value


Micros = Annotated[int, BeforeValidator(_micros)]


class LatencyHistogram(BaseModel):
    """One histogram of scheme 1: the non-zero buckets, the sum and the maximum of the recorded values (µs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    counts: Annotated[dict[int, int], BeforeValidator(_counts)] = Field(
        default_factory=dict,
        description="Non-zero buckets: bucket index (0-511, a string in JSON) to count.",
        json_schema_extra={
            "maxProperties": WIRE_BUCKETS,
            "propertyNames": {"pattern": "^[0-9]{1,3}$"},
            "additionalProperties": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT},
        },
    )
    sumUs: Micros = Field(default=0, ge=0, le=MAX_MICROS, description="Sum of the recorded values, in microseconds.")
    maxUs: Micros = Field(default=0, ge=0, le=MAX_MICROS, description="Largest recorded value, in microseconds.")

    @classmethod
    def from_dense(cls, counts: Sequence[int], sum_us: int, max_us: int) -> LatencyHistogram:
        """The wire form of a dense bucket list (a worker's ``Histogram``); buckets past 511 fold into 511."""
        sparse: dict[int, int] = {}
        last = WIRE_BUCKETS - 1
        for index, n in enumerate(counts):
            if n:
                slot = min(index, last)
                sparse[slot] = sparse.get(slot, 0) + n
        return cls.model_construct(counts=sparse, sumUs=sum_us, maxUs=max_us)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def percentile_ms(self, pct: float) -> float:
        """The value (ms) below which ``pct`` percent of the recordings fall (a bucket's upper bound, capped
        by the maximum); 0 when empty."""
        total = self.count
        if not total:
            return 0.0
        rank = max(1, round(total * pct / 100.0))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return _wire_upper_us(index, self.maxUs) / 1000.0
        return self.maxUs / 1000.0

    def since(self, earlier: LatencyHistogram) -> LatencyHistogram | None:
        """What was recorded after ``earlier`` (a previous report of the same worker), or None when this is
        not a continuation of it (a bucket went down: the worker restarted). The window's maximum is the
        upper bound of its highest bucket, capped by the overall maximum."""
        window: dict[int, int] = {}
        for index, n in self.counts.items():
            diff = n - earlier.counts.get(index, 0)
            if diff < 0:
                return None
            if diff:
                window[index] = diff
        if any(index not in self.counts for index in earlier.counts) or self.sumUs < earlier.sumUs:
            return None
        top = max(window, default=None)
        top_us = 0 if top is None else _wire_upper_us(top, self.maxUs)
        return LatencyHistogram.model_construct(counts=window, sumUs=self.sumUs - earlier.sumUs, maxUs=top_us)


def merge(histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
    """The histogram of all the recordings of ``histograms`` (same scheme: counts add up)."""
    counts: dict[int, int] = {}
    sum_us = max_us = 0
    for histogram in histograms:
        for index, n in histogram.counts.items():
            counts[index] = counts.get(index, 0) + n
        sum_us += histogram.sumUs
        max_us = max(max_us, histogram.maxUs)
    return LatencyHistogram.model_construct(counts=counts, sumUs=sum_us, maxUs=max_us)


class LatencyReport(BaseModel):
    """A status report's ``context.latencyHistogram``: the role's histogram since start and, for roles
    whose calls are steps (http-sequence), one per step id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scheme: Literal[1] = Field(default=SCHEME, description="Bucket scheme version (1: log-linear µs, 16 per 2^n).")
    role: LatencyHistogram = Field(default_factory=LatencyHistogram, description="Every request of the role.")
    steps: dict[Annotated[str, Field(min_length=1, max_length=STEP_ID_LIMIT)], LatencyHistogram] = Field(
        default_factory=dict, max_length=MAX_STEPS, description="Per step id (http-sequence), in step order."
    )
    stepsOmitted: int = Field(default=0, ge=0, description="Steps left out to keep the report within its bound.")

    @model_validator(mode="after")
    def _bounded(self) -> LatencyReport:
        entries = len(self.role.counts) + sum(len(h.counts) for h in self.steps.values())
        if entries > MAX_ENTRIES:
            raise ValueError(f"latencyHistogram has {entries} buckets in all; at most {MAX_ENTRIES}")
        return self

    @classmethod
    def build(cls, role: LatencyHistogram, steps: Iterable[tuple[str, LatencyHistogram]]) -> LatencyReport:
        """The report of a role's histogram and its steps', the steps kept in order while within the bounds."""
        kept: dict[str, LatencyHistogram] = {}
        entries, omitted = len(role.counts), 0
        for step_id, histogram in steps:
            size = len(histogram.counts)
            if len(kept) >= MAX_STEPS or len(step_id) > STEP_ID_LIMIT or entries + size > MAX_ENTRIES:
                omitted += 1
                continue
            kept[step_id] = histogram
            entries += size
        return cls.model_construct(scheme=SCHEME, role=role, steps=kept, stepsOmitted=omitted)

    def to_json(self) -> dict[str, object]:
        return self.model_dump(mode="json")

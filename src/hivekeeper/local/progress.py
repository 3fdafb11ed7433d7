"""The live progress view and the final summary of ``hivekeeper run``: pure formatting."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RoleRow:
    name: str
    role: str
    instances: int
    processed: int = 0
    tps: float = 0.0
    in_flight: int = 0
    errors: int = 0
    dropped: int = 0
    p50: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    queue: str = ""
    depth: int | None = None
    status_codes: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    truncated: int = 0
    """HTTP responses whose body exceeded maxResponseBytes."""
    redelivered: int = 0
    """Items the broker delivered to this role again (possible duplicates)."""
    drop_reasons: dict[str, int] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=dict)
    """Token fetches (count, errors, p95 ms) and 401 retries of its auth profiles, apart from the SUT's calls."""
    business_codes: dict[str, int] = field(default_factory=dict)
    """Results by the business code their result rules read (bounded: the rest as ``(other)``)."""
    dimensions: dict[str, dict[str, int]] = field(default_factory=dict)
    """Results by dimension, by value (bounded likewise)."""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["latencyMs"] = {"p50": data.pop("p50"), "p95": data.pop("p95"), "p99": data.pop("p99")}
        data["inFlight"] = data.pop("in_flight")
        data["statusCodes"] = data.pop("status_codes")
        data["errorKinds"] = data.pop("error_kinds")
        data["responsesTruncated"] = data.pop("truncated")
        data["droppedBy"] = data.pop("drop_reasons")
        data["businessCodes"] = data.pop("business_codes")
        return data


HEADERS = (
    "role",
    "kind",
    "inst",
    "processed",
    "tps",
    "in-flight",
    "errors",
    "dropped",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "queue depth",
)


def _cells(row: RoleRow) -> tuple[str, ...]:
    latency = row.p50 or row.p95 or row.p99
    return (
        row.name,
        row.role,
        str(row.instances),
        f"{row.processed:,}",
        f"{row.tps:,.1f}",
        str(row.in_flight),
        f"{row.errors:,}",
        f"{row.dropped:,}",
        f"{row.p50:.2f}" if latency else "-",
        f"{row.p95:.2f}" if latency else "-",
        f"{row.p99:.2f}" if latency else "-",
        "-" if row.depth is None else f"{row.depth:,}",
    )


def table(rows: list[RoleRow]) -> str:
    """A fixed-width table, one line per role."""
    cells = [HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]
    lines = []
    for index, line in enumerate(cells):
        lines.append(
            "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(swarm: str, seconds: float, rows: list[RoleRow], drained: float = 0.0) -> str:
    """The end-of-run block; rows count what the drain moved too, and their rates cover its time."""
    head = f"swarm {swarm}: ran {seconds:.1f}s"
    if drained >= 0.05:
        head += f", then drained for {drained:.1f}s (producers off; consumers' counts and rates include the drain)"
    out = [head, table(rows)]
    for row in rows:
        if row.status_codes:
            codes = ", ".join(f"{code}: {n:,}" for code, n in sorted(row.status_codes.items()))
            out.append(f"{row.name} status codes: {codes}")
        if row.error_kinds:
            kinds = ", ".join(f"{kind}: {n:,}" for kind, n in sorted(row.error_kinds.items()))
            out.append(f"{row.name} errors by kind: {kinds}")
        if row.drop_reasons:
            reasons = ", ".join(f"{code}: {n:,}" for code, n in sorted(row.drop_reasons.items()))
            out.append(f"{row.name} dropped by reason: {reasons}")
        if row.business_codes:
            codes = ", ".join(f"{code}: {n:,}" for code, n in row.business_codes.items())
            out.append(f"{row.name} business codes: {codes}")
        for name, values in row.dimensions.items():
            counted = ", ".join(f"{value}: {n:,}" for value, n in values.items())
            out.append(f"{row.name} by {name}: {counted}")
        if row.truncated:
            out.append(f"{row.name} responses cut at maxResponseBytes (the rest read and discarded): {row.truncated:,}")
        if row.auth:
            auth = row.auth
            out.append(
                f"{row.name} auth (not in the figures above): token fetches {auth['tokenFetches']:,} "
                f"(p95 {auth['tokenFetchP95Ms']:.2f} ms), failed {auth['tokenFetchErrors']:,}; "
                f"401 answers retried with a fresh token {auth['unauthorizedRetries']:,}"
            )
    return "\n".join(out)

"""What the operator's event consumer remembers about each worker instance (pure).

Workers report ``status-full`` (on start, on request, after a config change), ``status-delta``
(every few seconds) and one outcome per config-update. :class:`Observations` folds those envelopes
into the last known :class:`~hivekeeper.operator.status.InstanceReport` per instance, which the
status functions and the level-based config re-send read. Deltas never erase what a full status
said (they carry no config), a ``Failed`` outcome is remembered with the generation it refused, and an
outcome for a generation older than the one the instance reported changes nothing (a late answer). A worker
that names no generation in its outcomes (a PocketHive worker: no ``configGeneration`` when it applies, no
``requestedGeneration`` when it refuses) is matched by the outcome's ``correlationId`` to the push it answers,
whose generation it then runs or refused.

It also remembers when each generation was pushed, so that an instance's first acknowledgement of
it yields the push-to-ack latency the operator exports as a metric.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, defaultdict

from hivekeeper.errors import InvalidInput
from hivekeeper.operator.latency import next_window
from hivekeeper.operator.reports import ConfigOutcome, StatusData
from hivekeeper.operator.status import InstanceReport
from hivekeeper.protocol.envelope import Envelope
from hivekeeper.protocol.naming import ALL


class MalformedEvent(InvalidInput, ValueError):
    """A status or outcome whose fields have the wrong types; the consumer counts it and goes on."""


Key = tuple[str, str]
"""(swarm id, role)"""


class PushedSignals:
    """The correlation ids of the config-updates pushed lately, each with the (swarm, role) and generation it
    carried: a worker that reports no generation (a PocketHive worker) is matched to the push it answers.

    Bounded (oldest first out): an answer is due within seconds, and the level-based re-send pushes again
    with a new id when one goes unanswered.
    """

    KEPT = 4096

    def __init__(self) -> None:
        self._ids: OrderedDict[str, tuple[str, str, int]] = OrderedDict()

    def remember(self, correlation_id: str, swarm_id: str, role: str, generation: int) -> None:
        self._ids[correlation_id] = (swarm_id, role, generation)
        self._ids.move_to_end(correlation_id)
        while len(self._ids) > self.KEPT:
            self._ids.popitem(last=False)

    def generation(self, key: Key, correlation_id: str | None) -> int | None:
        """The generation pushed in ``correlation_id`` to role ``key``; None when it is not one of ours (an
        id sent to another role answers nothing here)."""
        found = self._ids.get(correlation_id or "")
        return found[2] if found is not None and found[:2] == key else None


class Observations:
    """Last reports per instance, for the roles this operator manages, with bounded memory.

    Anyone holding a broker credential can publish events, so what is kept is bounded: reports for a
    managed (swarm, role) — one a WorkerRole of this operator exists for — are kept per instance (at most
    ``MAX_INSTANCES`` per role; the roll-up forgets instances without a pod every tick). Reports for
    anything else wait in a small LRU (``MAX_UNMANAGED``), because a restarted operator hears the workers'
    ``status-full`` answers before its first roll-up has named their roles; the entry moves over when the
    role becomes managed and is otherwise pushed out by newer ones.
    """

    KEPT_PUSHES = 8
    """Push times remembered per role: enough for edits that overtake each other, bounded for long runs."""
    MAX_INSTANCES = 1024
    """Reports kept per managed role: far above any replica count, a bound against forged instance names."""
    MAX_UNMANAGED = 1024
    """Reports kept for roles not (yet) managed, oldest first out."""

    def __init__(self) -> None:
        self._instances: dict[Key, dict[str, InstanceReport]] = defaultdict(dict)
        self._pushed: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
        self._managed: set[Key] = set()
        self._unmanaged: OrderedDict[tuple[str, str, str], InstanceReport] = OrderedDict()
        self._signals = PushedSignals()

    def manage(self, swarm_id: str, role: str) -> bool:
        """Start keeping reports for (swarm, role); the ones heard before it was managed move over.

        True when the role was not managed before (the operator then asks a role whose workers did not hear
        its first status request for their status)."""
        key = (swarm_id, role)
        if key in self._managed:
            return False
        self._managed.add(key)
        for waiting in [k for k in self._unmanaged if k[:2] == key]:
            self._instances[key][waiting[2]] = self._unmanaged.pop(waiting)
        return True

    def unmanage(self, swarm_id: str, role: str) -> None:
        """Forget everything about (swarm, role): its WorkerRole is gone."""
        key = (swarm_id, role)
        self._managed.discard(key)
        self._instances.pop(key, None)
        for pushed in [k for k in self._pushed if k[:2] == key]:
            del self._pushed[pushed]

    def managed(self) -> int:
        """How many (swarm, role) pairs are managed (for tests and metrics)."""
        return len(self._managed)

    def kept(self) -> int:
        """How many instance reports are held in all, managed or waiting."""
        return sum(len(v) for v in self._instances.values()) + len(self._unmanaged)

    def _previous(self, key: Key, instance: str) -> InstanceReport | None:
        if key in self._managed:
            return self._instances[key].get(instance)
        return self._unmanaged.get((*key, instance))

    def _store(self, key: Key, report: InstanceReport) -> None:
        if key in self._managed:
            reports = self._instances[key]
            if report.name not in reports and len(reports) >= self.MAX_INSTANCES:
                del reports[min(reports, key=lambda name: reports[name].seen_at)]
            reports[report.name] = report
            return
        # Latency histograms only matter for a managed role (up to ~160 KB each, see protocol/latency.py): a
        # waiting report keeps none, and its instance's window is unknown until its next report.
        if report.latency_since_start is not None or report.latency_window is not None:
            report = dataclasses.replace(
                report, latency_since_start=None, latency_window=None, latency_baseline=None, latency_known=False
            )
        self._unmanaged[(*key, report.name)] = report
        self._unmanaged.move_to_end((*key, report.name))
        while len(self._unmanaged) > self.MAX_UNMANAGED:
            self._unmanaged.popitem(last=False)

    def pushed(
        self, swarm_id: str, role: str, instance: str, generation: int, now: float, *, correlation_id: str = ""
    ) -> None:
        """Remember that ``generation`` was sent to ``instance`` (or to every instance: ``ALL``) at ``now``, in the
        signal ``correlation_id``: an outcome that names no generation is matched to it by that id."""
        times = self._pushed[(swarm_id, role, instance)]
        times[generation] = now
        for old in sorted(times)[: -self.KEPT_PUSHES]:
            del times[old]
        if correlation_id:
            self._signals.remember(correlation_id, swarm_id, role, generation)

    def _ack_latency(self, swarm_id: str, role: str, instance: str, generation: int, now: float) -> float | None:
        for target in (instance, ALL):
            sent = self._pushed.get((swarm_id, role, target), {}).get(generation)
            if sent is not None:
                return max(0.0, now - sent)
        return None

    def record(self, event: Envelope, now: float) -> float | None:
        """Fold one envelope in; anything that is not a worker's status or outcome is ignored.

        Returns the push-to-ack latency in seconds when the envelope is an instance's first
        acknowledgement of a generation this operator pushed, else None. Raises :class:`MalformedEvent`
        when a field has the wrong type; nothing is stored then.
        """
        try:
            return self._record(event, now)
        except (TypeError, ValueError, OverflowError) as exc:
            raise MalformedEvent(f"{event.kind} {event.type} from {event.scope.instance!r}: {exc}") from exc

    def _record(self, event: Envelope, now: float) -> float | None:
        scope = event.scope
        key = (scope.swarmId, scope.role)
        previous = self._previous(key, scope.instance)
        if event.kind == "metric" and event.type in ("status-full", "status-delta"):
            status = StatusData.model_validate(event.data)
            kept = previous.config_generation if previous else 0
            since_start = status.details.latencyHistogram
            window, baseline = next_window(since_start, previous, delta=event.type == "status-delta")
            report = InstanceReport(
                name=scope.instance,
                enabled=status.enabled,
                config_generation=kept if status.details.configGeneration is None else status.details.configGeneration,
                seen_at=now,
                seen_at_text=event.timestamp,
                tps=status.rate,
                errors=status.details.errors,
                processed=status.details.processed,
                dropped=status.details.dropped,
                status_codes=dict(status.details.statusCodes),
                error_kinds=dict(status.details.errorKinds),
                business_codes=dict(status.details.businessCodes),
                dimensions={name: dict(counts) for name, counts in status.details.dimensions.items()},
                io_input=status.work.input,
                io_output=status.work.output,
                rejected_generation=previous.rejected_generation if previous else None,
                rejected_reason=previous.rejected_reason if previous else "",
                latency_ms=status.details.latencyMs,
                published_messages=status.details.workOut.messages if status.details.workOut else 0,
                published_items=status.details.workOut.items if status.details.workOut else 0,
                latency_since_start=since_start,
                latency_window=window,
                latency_baseline=baseline,
            )
            if report.rejected_generation is not None and report.config_generation >= report.rejected_generation:
                report = dataclasses.replace(report, rejected_generation=None, rejected_reason="")
            self._store(key, report)
        elif event.kind == "outcome" and event.type == "config-update" and previous is not None:
            return self._outcome(event, key, previous, now)
        return None

    def _outcome(self, event: Envelope, key: Key, previous: InstanceReport, now: float) -> float | None:
        outcome = ConfigOutcome.model_validate(event.data)
        # A worker that names no generation (a PocketHive worker) answered the push this outcome echoes the ids of.
        pushed = self._signals.generation(key, event.correlationId)
        # An outcome for a generation older than the one the instance already reported is a late answer to an
        # earlier push (or a worker refusing that stale push): it changes nothing, so it can neither move the
        # instance back nor mark it as refusing the config it runs.
        if outcome.failed:
            requested = outcome.requestedGeneration if outcome.requestedGeneration is not None else pushed
            # A worker also refuses a delayed update older than what it holds: that refusal must not
            # replace the refusal of a newer generation (the one the operator wants), or the role would
            # flap to ConfigPending and that newer config would be re-sent.
            delayed = requested is not None and (
                requested <= previous.config_generation
                or (previous.rejected_generation is not None and requested < previous.rejected_generation)
            )
            if requested is not None and not delayed:
                self._store(
                    key,
                    dataclasses.replace(
                        previous, rejected_generation=requested, rejected_reason=outcome.reason, seen_at=now
                    ),
                )
            return None
        generation = next((g for g in (outcome.configGeneration, pushed) if g is not None), previous.config_generation)
        if generation < previous.config_generation:
            return None
        enabled = outcome.enabled if outcome.enabled is not None else previous.enabled
        report = dataclasses.replace(previous, config_generation=generation, seen_at=now, enabled=enabled)
        if report.rejected_generation is not None and generation >= report.rejected_generation:
            report = dataclasses.replace(report, rejected_generation=None, rejected_reason="")
        self._store(key, report)
        if generation > previous.config_generation:
            return self._ack_latency(event.scope.swarmId, event.scope.role, event.scope.instance, generation, now)
        return None

    def instances(self, swarm_id: str, role: str) -> list[InstanceReport]:
        return sorted(self._instances.get((swarm_id, role), {}).values(), key=lambda report: report.name)

    def forget(self, swarm_id: str, role: str, keep: set[str]) -> None:
        """Drop instances whose pods are gone (``keep`` holds the pod names that still exist)."""
        known = self._instances.get((swarm_id, role), {})
        for name in [n for n in known if n not in keep]:
            del known[name]
            self._pushed.pop((swarm_id, role, name), None)

    def behind(self, swarm_id: str, role: str, generation: int) -> list[str]:
        """Instances that report an older config generation and have not refused this one."""
        return [
            r.name
            for r in self.instances(swarm_id, role)
            if r.config_generation < generation and r.rejected_generation != generation
        ]

"""``spec.run`` played by ``hivekeeper run``: the load stages, the item budget, the early abort, and the figures
the verdict is judged on.

The stages reach the workers the way every live edit does: a config-update with the role's new input rate (as
the operator would push it), so a ramp is exactly what a user could have done by hand. The driver re-checks
twice a second; a rate change under 1 % of the last one sent is not sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hivekeeper.api.run import RATE_BLOCKS, RunSpec, mean_rate, rate_at
from hivekeeper.api.verdict import Figures, RoleFigures, Verdict, judge, verdict
from hivekeeper.local.local_swarm import LocalSwarm
from hivekeeper.worker.stats import Histogram

TICK = 0.5
"""Seconds between two looks at the stages, the item budget and the thresholds."""
_PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0))


def _rate_patch(input_type: str, rate: float) -> dict[str, object]:
    block = RATE_BLOCKS[input_type]
    return {"inputs": {block: {"ratePerSec": round(rate, 6)}}}


def made(local: LocalSwarm) -> int:
    """Items the swarm's producing roles (no work.in) made so far."""
    producers = [spec.name for spec in local.swarm.spec.roles if not spec.work.in_]
    return sum(w.stats.processed for name in producers for w in local.workers[name])


def figures(local: LocalSwarm, elapsed: float) -> list[RoleFigures]:
    """Each role's figures over the run so far, merged across its instances (histograms, not the worst one)."""
    run = local.swarm.spec.run
    out = []
    for spec in local.swarm.spec.roles:
        workers = local.workers[spec.name]
        latency = Histogram()
        steps: dict[str, Histogram] = {}
        codes: dict[str, int] = {}
        processed = errors = dropped = 0
        for worker in workers:
            stats = worker.stats
            processed += stats.processed
            errors += stats.errors
            dropped += stats.dropped
            latency.merge(stats.latency)
            for step, histogram in stats.step_latency.items():  # http-sequence: each step's calls
                steps.setdefault(step, Histogram()).merge(histogram)
            for code, n in stats.statuses.items():
                codes[str(code)] = codes.get(str(code), 0) + n
        latency_ms = _latency_ms(latency)
        target = _target_rate(run, spec.name, elapsed)
        out.append(
            RoleFigures(
                role=spec.name,
                kind=spec.role,
                processed=processed,
                errors=errors,
                dropped=dropped,
                statusCodes=codes,
                latencyMs=latency_ms,
                targetRate=target,
                achievedRate=processed / elapsed if elapsed > 0 and target is not None else None,
                steps={step: Figures(latencyMs=_latency_ms(histogram)) for step, histogram in steps.items()},
            )
        )
    return out


def _latency_ms(latency: Histogram) -> dict[str, float]:
    """p50, p90, p95, p99, max and mean (ms) of a merged histogram; empty when nothing was recorded."""
    if not latency.count:
        return {}
    latency_ms = {name: latency.percentile(pct) for name, pct in _PERCENTILES}
    latency_ms.update(max=latency.max_us / 1000.0, mean=latency.mean_ms())
    return latency_ms


def _target_rate(run: RunSpec | None, role: str, elapsed: float) -> float | None:
    """The mean rate the stages asked of ``role`` over ``elapsed`` seconds (None: no stages for it)."""
    stages = next((s for s in run.stages if s.role == role), None) if run else None
    return mean_rate(stages, elapsed) if stages is not None else None


def judge_now(local: LocalSwarm, elapsed: float) -> Verdict:
    return verdict(local.swarm.spec.run, figures(local, elapsed))


def failing(local: LocalSwarm, elapsed: float) -> list[str]:
    """Thresholds failing now (for the early abort): only those with a measured value count."""
    run = local.swarm.spec.run
    if run is None:
        return []
    roles = {f.role: f for f in figures(local, elapsed)}
    results = [judge(t, roles) for t in run.thresholds]
    return [r.message for r in results if not r.passed and r.observed is not None]


class RunDriver:
    """Plays one swarm's ``spec.run`` until it ends; ``ended`` says why (or None while it runs)."""

    def __init__(self, local: LocalSwarm, clock: Callable[[], float]) -> None:
        self.local = local
        self.run = local.swarm.spec.run
        self._clock = clock
        self._sent: dict[str, float] = {}
        self.ended: str | None = None
        self.aborted: list[str] = []

    def staged_inputs(self) -> dict[str, str]:
        """role → input type (SCHEDULER / REDIS_DATASET) of every staged role."""
        out = {}
        for stage in self.run.stages if self.run else []:
            worker = self.local.workers[stage.role][0]
            out[stage.role] = worker.state.input_type
        return out

    async def start_rates(self) -> None:
        """Set every staged role to its start rate before the run is enabled."""
        await self._steer(0.0)

    async def _steer(self, elapsed: float) -> None:
        if self.run is None:
            return
        inputs = self.staged_inputs()
        for stage in self.run.stages:
            rate = rate_at(stage, elapsed)
            last = self._sent.get(stage.role)
            if last is not None and abs(rate - last) <= 0.01 * max(last, 1e-9):
                continue
            self._sent[stage.role] = rate
            patch = _rate_patch(inputs[stage.role], rate)
            await asyncio.gather(
                *(
                    self.local.controller.send("config-update", stage.role, w.identity.instance, patch)
                    for w in self.local.workers[stage.role]
                )
            )

    async def drive(self, started: float, stop: asyncio.Event) -> None:
        """Steer the stages, watch the budget and the thresholds until the run is over (``ended`` says why) or
        ``stop`` is set; then the swarm's producers are disabled (Stop, not Remove: the pipeline drains)."""
        run = self.run
        if run is None or self.local.swarm.spec.paused:
            return
        end = run.seconds
        while not stop.is_set():
            elapsed = self._clock() - started
            if end is not None and elapsed >= end:
                self.ended = f"the run's {end:g} s are over"
                break
            if run.maxItems is not None and made(self.local) >= run.maxItems:
                self.ended = f"the item budget of {run.maxItems:,} is made"
                break
            if run.abort.onFail and elapsed >= run.abort.graceSeconds:
                self.aborted = failing(self.local, elapsed)
                if self.aborted:
                    self.ended = f"aborted after {elapsed:.1f} s: {self.aborted[0]}"
                    break
            await self._steer(elapsed)
            try:
                await asyncio.wait_for(stop.wait(), timeout=TICK)
            except TimeoutError:
                continue
        if self.ended is not None:
            print(f"{self.local.name}: run {run.id} ended: {self.ended}", file=self.local.out)
            await self.local.set_enabled([r.name for r in self.local.swarm.spec.roles if not r.work.in_], False)


async def drive_all(drivers: list[RunDriver], started: float, stop: asyncio.Event) -> None:
    """Play every swarm's run; when every swarm of the invocation has a bounded run and all have ended, set
    ``stop`` (a swarm without a run keeps the invocation going until --duration or Ctrl-C)."""
    await asyncio.gather(*(driver.drive(started, stop) for driver in drivers))
    bounded = all(d.run is not None and not d.local.swarm.spec.paused for d in drivers)
    if bounded and all(d.ended is not None for d in drivers):
        stop.set()


__all__ = ["Figures", "RunDriver", "drive_all", "figures", "judge_now", "made"]

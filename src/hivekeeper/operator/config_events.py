"""The config's Events: a config applied by every worker, or refused, said once per generation.

The roll-ups run every 2 seconds and the ``ConfigApplied`` condition says the same thing on each tick; an Event
says it once, when it becomes true. Three guards make "once" hold: the previous status (an operator restarted
after the Event was written finds the condition already there), the recorder's memory of what it said
(:meth:`~hivekeeper.operator.recorder.EventRecorder.first_time`: a timer body older than the last status patch
shows the condition not yet there), and the correlator's deduplication behind both.

- **WorkerRole.** ``ConfigApplied`` (Normal) with the condition's sentence ("all 3 workers run config generation
  7") once per config generation; ``ConfigRefused`` (Warning) with the worker's reason once per refusal.
- **Swarm.** The Swarm's reconcile remembers the config it wrote into its WorkerRoles (:func:`swarm_pushed`);
  ``ConfigApplied`` says when every worker of those roles runs it, ``ConfigRefused`` names the role whose worker
  refused its config.

A bounded run (``spec.run``) sets a staged rate every few seconds; those pushes are the run's business (its status
and its ``RunPassed``/``RunFailed`` Event tell it), so while a run is recorded the WorkerRoles' ``ConfigPushed``
and ``ConfigApplied`` are not said (refusals still are).
"""

from __future__ import annotations

from typing import Any

from hivekeeper.api.status import Condition
from hivekeeper.operator import events, plan
from hivekeeper.operator.bodies import SwarmBody, WorkerRoleBody
from hivekeeper.operator.events import Note
from hivekeeper.operator.runtime import Runtime

REFUSED = "WorkerRejectedConfig"
"""The ``ConfigApplied`` condition's reason when a worker refused the config (``operator/status.py``)."""


def _condition(conditions: list[Condition], type_: str = "ConfigApplied") -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def run_in_progress(runtime: Runtime, role: WorkerRoleBody) -> bool:
    """Whether the Swarm owning ``role`` has a bounded run in progress (its rates change every few seconds)."""
    owner = role.swarm_owner_uid()
    return owner is not None and owner in runtime.recordings


def role_note(role: WorkerRoleBody, patch: dict[str, Any], generation: int) -> Note | None:
    """What the WorkerRole's new status says of its config that the previous one did not (None: nothing new).

    ``patch`` is the roll-up's status patch, ``generation`` the config generation it judged the workers by."""
    new = _condition([Condition.model_validate(c) for c in patch.get("conditions", [])])
    if new is None:
        return None
    old = _condition(role.status.conditions)
    ref = events.role_ref(role)
    if new.status == "True":
        if old is not None and old.status == "True" and role.status.appliedGeneration == generation:
            return None
        return Note(ref, "Normal", "ConfigApplied", new.message)
    if new.reason == REFUSED:
        if old is not None and (old.reason, old.message) == (new.reason, new.message):
            return None
        return Note(ref, "Warning", "ConfigRefused", new.message)
    return None


async def say_role(runtime: Runtime, role: WorkerRoleBody, patch: dict[str, Any], generation: int) -> None:
    """Say :func:`role_note` once (see the module docstring)."""
    note = role_note(role, patch, generation)
    if note is None or (note.reason == "ConfigApplied" and run_in_progress(runtime, role)):
        return
    value = (note.reason, generation) if note.reason == "ConfigApplied" else (note.reason, note.message)
    if runtime.events.first_time(("config", role.metadata.uid), value):
        await runtime.event(note.involved, note.type, note.reason, note.message)


def swarm_pushed(runtime: Runtime, swarm: SwarmBody, changed: list[plan.ChildPlan]) -> None:
    """Remember that the Swarm's reconcile wrote a new config into ``changed``: :func:`say_swarm` says when every
    worker of theirs runs it."""
    digests = tuple(sorted((child.name, child.digest) for child in changed))
    runtime.events.remember(("swarm-config", swarm.metadata.uid), (swarm.metadata.generation, digests))


def swarm_notes(runtime: Runtime, swarm: SwarmBody, children: list[WorkerRoleBody]) -> list[Note]:
    """The Swarm's config Events due now: its pushed config applied everywhere, or a role's worker refusing."""
    ref, uid = events.swarm_ref(swarm), swarm.metadata.uid
    notes = []
    by_name = {child.metadata.name: child for child in children}
    pending = runtime.events.last(("swarm-config", uid))
    if isinstance(pending, tuple) and len(pending) == 2:
        generation, digests = pending
        held = [by_name.get(name) for name, _ in digests]
        applied = all(
            child is not None
            and child.status.configDigest == digest
            and child.status.appliedGeneration == child.status.configGeneration
            and (found := _condition(child.status.conditions)) is not None
            and found.status == "True"
            for child, (_, digest) in zip(held, digests, strict=True)
        )
        if applied:
            runtime.events.remember(("swarm-config", uid), None)
            names = [child.role for child in held if child is not None]
            roles = ("role " if len(names) == 1 else "roles ") + ", ".join(names)
            message = f"every worker of {roles} runs the config of Swarm generation {generation}"
            notes.append(Note(ref, "Normal", "ConfigApplied", message))
    shown = _condition(swarm.status.conditions)
    for child in sorted(children, key=lambda c: c.metadata.name):
        found = _condition(child.status.conditions)
        key = ("swarm-refused", uid, child.metadata.name)
        if found is None or found.status != "False" or found.reason != REFUSED:
            runtime.events.remember(key, None)
            continue
        message = f"role {child.role}: {found.message}"
        # The Swarm's condition carries the first refusal up as "<role>: <message>": already shown, already said.
        already = shown is not None and shown.reason == REFUSED and shown.message == f"{child.role}: {found.message}"
        if runtime.events.first_time(key, found.message) and not already:
            notes.append(Note(ref, "Warning", "ConfigRefused", message))
    return notes


async def say_swarm(runtime: Runtime, swarm: SwarmBody, children: list[WorkerRoleBody]) -> None:
    for note in swarm_notes(runtime, swarm, children):
        await runtime.event(note.involved, note.type, note.reason, note.message)

"""The Kubernetes operator: Swarm and WorkerRole resources become Deployments and queue bindings.

Layering inside: handlers (the kopf adapter, the only kopf importer) -> the core (reconcile and roll-up
decisions over typed bodies, behind the ``ports`` Protocols) <- effects (lightkube and aio-pika adapters,
wired by ``wiring``). docs/operator.md has the module map. This is ``hivekeeper.operator``; the top-level
``operator/`` folder holds only the container build, so the standard library's ``operator``
module is never shadowed.
"""

"""The Kubernetes operator: Swarm and WorkerRole resources become Deployments and queue bindings.

Layering inside: handlers (the only kopf importer) -> plan (pure) -> manifests/topology (pure)
-> kube/rabbit (effects) -> status (pure). This is ``hivekeeper.operator``; the top-level
``operator/`` folder holds only the container build, so the standard library's ``operator``
module is never shadowed.
"""

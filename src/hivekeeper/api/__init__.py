"""The Kubernetes API of hivekeeper: pydantic models of the ``Swarm`` and ``WorkerRole`` resources.

These models are the single source of truth: the CRDs in ``crds/`` are generated from them, the
operator reads manifests through them, and ``hivekeeper run`` reads the same manifests locally.
Pure code: no I/O library may be imported here.
"""

GROUP = "hivekeeper.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

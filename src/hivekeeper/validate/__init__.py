"""``hivekeeper validate``: check manifests without a cluster, with the rules the API server and the workers
apply; and :func:`review`, the same checks of one object for the operator's admission webhook.

For every Swarm and WorkerRole document (other kinds are skipped with a note):

1. **Schema**: the generated CRD's openAPIV3Schema (:mod:`hivekeeper.api.crd`, the source of ``crds/``), with
   unknown fields refused as kubectl's strict field validation refuses them (:mod:`.schema`, :mod:`.metadata`).
2. **CEL rules**: every ``x-kubernetes-validations`` rule of the CRD, run at its location (:mod:`.cel_rules`,
   :mod:`.rules`).
3. **The models**: what the operator and ``hivekeeper run`` check when they read the manifest (:mod:`.rules`).
4. **Role configs**: each built-in role's merged config through :func:`hivekeeper.api.roles.validate` (the
   models the workers use), and then a real worker built offline, so that every constructor-time check of the
   roles runs (:mod:`.roles`, :mod:`.io_combinations`, :mod:`.offline`); no config, a custom image's included,
   names a file of a PocketHive bundle (:mod:`.bundle_paths`).
5. **Wiring and references**: input/output types against work.in/work.out, every call id a generator can
   send has a template in the request-builder it feeds, vars and SUT endpoints used by templates exist, no
   postprocessor reads journeys (:mod:`.wiring`, :mod:`.call_ids`, :mod:`.templates`, :mod:`.journey_sinks`).

All in one pass: a refused role config still has its references checked with the keys that were accepted
(:mod:`.lenient`), and the role steps run whenever the API models accept the manifest. ``hivekeeper import``
runs the same checks on what it writes (:mod:`hivekeeper.importer.agreement`).

Each problem is a :class:`~hivekeeper.validate.findings.Finding` with the path and line it is about;
:mod:`.report` prints them. :mod:`.run` is the command's entry point, :mod:`.swarm` and :mod:`.workerrole` the
checks of each kind.
"""

from hivekeeper.validate.review import Review, review

__all__ = ["Review", "review"]

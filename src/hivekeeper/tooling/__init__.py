"""Offline tools for manifests: ``hivekeeper validate`` (CI checks before merge) and ``hivekeeper import``
(PocketHive scenario bundles to Swarm manifests). Nothing here talks to a cluster or a broker."""

"""``hivekeeper import``: a PocketHive scenario bundle as one Swarm manifest (:mod:`.translate`; docs/import.md
has the mapping). Nothing here talks to a cluster or a broker; problems are reported as
:class:`~hivekeeper.validate.findings.Finding` values, printed as ``hivekeeper validate`` prints them."""

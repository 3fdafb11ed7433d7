"""``hivekeeper run``: every role of a Swarm manifest in one process, on in-memory transports."""

"""The worker runtime: one instance of one role, driven by its control queue.

One :class:`~hivekeeper.worker.runtime.worker.Worker` (``worker``: wiring a role to its inputs and outputs) is
built from three parts, each a module: ``lifecycle`` (start, stop, drain), ``work`` (the work loops) and
``status`` (status reports, stats and alerts); ``signals`` answers the control queue. What they share is
declared once in ``parts``.

Life of a worker: it starts **disabled** with its bootstrap config and says so (``status-full``);
a ``signal.config-update`` is validated and swapped in whole, or rejected whole with the old config
kept, and answered with exactly one outcome; ``enabled`` starts and stops work (a RabbitMQ input
stops consuming, so messages stay queued) while the control plane stays live; every
``status_interval`` seconds it reports a ``status-delta``.

Work runs in a fixed number of loops (the role's concurrency: ``threadCount`` for processors), each
taking one item, handing it to the role, publishing the result and only then acknowledging the
input. Nothing is buffered beyond those loops, so backlog stays in the broker where it is visible.
A result the output refuses for good, and an item delivered too many times, is dead-lettered or
dropped; a transient publish failure is retried, then the input goes back (``worker.publishing``).
"""

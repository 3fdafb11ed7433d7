"""Connection-level transports behind the worker's ports (``worker.ports``).

``rabbit``: the control plane on aio-pika and the work plane's connection on the lean AMQP client;
``redis``: the data store; ``memory``: in-process twins of both (``hivekeeper run``, tests). The inputs
and outputs that read and write work through them live in ``worker.inputs`` and ``worker.outputs``.
Nothing here imports the runtime or a role.
"""

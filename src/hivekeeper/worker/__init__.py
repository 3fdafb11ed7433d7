"""The worker runtime: env contract, control-plane client, inputs, roles and outputs.

One image runs every built-in role. The layout follows an item: ``inputs/`` (where items come from) →
``roles/`` (one package per role, found by name in ``roles.registry``) → ``outputs/`` (where results go),
driven by ``runtime/`` (lifecycle, work loops, status, signals). Every I/O edge sits behind a small Protocol
(``ports``, ``http_port``) with an in-memory twin; the connection-level transports live in ``transports/``
(RabbitMQ, Redis, memory) and ``http/`` (the HTTP client). The pure parts (config apply, pacing) live in
their own modules.
"""

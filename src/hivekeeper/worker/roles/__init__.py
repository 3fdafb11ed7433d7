"""Built-in worker roles (generator, request-builder, processor, ...), one package each, found by name in
``registry``.

Roles import no transport (no broker, Redis or HTTP client), and no other role: they receive ports from
the runtime (``base.RoleDeps``, ``base.Wiring``); what two roles share lives in ``base`` or ``templates``.
"""

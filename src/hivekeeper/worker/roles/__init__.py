"""Built-in worker roles (generator, request-builder, processor, ...).

Roles never import the broker or Redis clients; they receive ports from the runtime.
"""

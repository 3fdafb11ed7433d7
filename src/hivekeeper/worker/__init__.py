"""The worker runtime: env contract, control-plane client, inputs, roles and outputs.

One image runs every built-in role. The runtime wires an input to a role to an output; the
pure parts (config apply, pacing, status) live in their own modules, and every I/O edge sits
behind a small Protocol with an in-memory twin.
"""

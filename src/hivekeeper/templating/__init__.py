"""Sandboxed templating for messages and HTTP calls: a Jinja2 environment and its helpers.

Pure code: no I/O library may be imported here; helpers that need I/O (such as ``sequence``)
receive a port.
"""

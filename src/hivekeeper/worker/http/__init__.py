"""HTTP/1.1 client for the processor and http-sequence roles, behind ``worker.http_port`` (see
docs/decisions/0001-http-client.md); ``memory`` is its in-memory twin for unit tests."""

DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
"""Body bytes kept per response unless the role's ``maxResponseBytes`` says otherwise. Here, not in the
role configs, so that the client does not import the config models (pydantic, the templating stack):
a load generator's start-up and its memory stay small."""

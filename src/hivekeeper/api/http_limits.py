"""Response-size limits shared by the processor and http-sequence configs and the worker's HTTP client.

A module of its own, free of pydantic and the templating stack, so that the HTTP client reads its default
without importing the role config models: a load generator's start-up and its memory stay small.
"""

DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
"""Body bytes kept per response unless the role's ``maxResponseBytes`` says otherwise."""

MAX_RESPONSE_BYTES_LIMIT = 256 * 1024 * 1024
"""The largest ``maxResponseBytes`` a config may ask for."""

MAX_RESPONSE_BYTES_HELP = (
    "Response body bytes kept for results, extracts and captures; the rest is read and discarded "
    "(counted as responsesTruncated)."
)

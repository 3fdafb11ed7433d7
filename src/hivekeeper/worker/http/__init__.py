"""HTTP/1.1 client for the processor and http-sequence roles, behind ``worker.http_port`` (see
docs/decisions/0001-http-client.md); ``memory`` is its in-memory twin for unit tests."""

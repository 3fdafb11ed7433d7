"""HTTP/1.1 client for the processor and http-sequence roles (see docs/decisions/0001-http-client.md)."""

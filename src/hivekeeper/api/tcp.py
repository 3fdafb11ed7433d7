"""TCP calls: the behaviours a `protocol: TCP` template or a processor may use, their limits, and the
limits (pure and free of pydantic: the worker's TCP client and the models read them).

The behaviour names are PocketHive's (`FIRE_FORGET`, `ECHO`, `REQUEST_RESPONSE`, `STREAMING`,
`LENGTH_PREFIX_2B`), so an imported bundle keeps them as they are.
"""

from __future__ import annotations

from typing import Literal, get_args

TcpBehavior = Literal["FIRE_FORGET", "ECHO", "REQUEST_RESPONSE", "STREAMING", "LENGTH_PREFIX_2B"]
"""What one TCP call reads after it wrote its request:

- ``FIRE_FORGET``: nothing (the request is written, the call is done);
- ``ECHO``: as many bytes as it wrote (a mismatch is an error of kind ``tcp-echo-mismatch``);
- ``REQUEST_RESPONSE``: up to and including ``endTag``;
- ``STREAMING``: until ``maxBytes`` arrived, the server closed, or ``readTimeoutMs`` passed;
- ``LENGTH_PREFIX_2B``: one frame with a two-byte big-endian length prefix, written the same way (ISO 8583 links).
"""

BEHAVIORS: tuple[str, ...] = get_args(TcpBehavior)

DEFAULT_MAX_BYTES = 8192
"""Bytes one TCP call reads at most unless its template or ``tcpTransport.maxBytes`` says otherwise
(PocketHive's default)."""

MAX_BYTES_LIMIT = 16 * 1024 * 1024
"""The largest ``maxBytes`` a template or a processor may ask for: what one call may hold in memory."""

FRAME_LIMIT = 0xFFFF
"""The largest body a two-byte length prefix can announce (LENGTH_PREFIX_2B)."""

MAX_BYTES_HELP = (
    "Bytes one TCP call reads at most (1 to 16 MiB): a hard cap, a reply that would exceed it fails with "
    "tcp-too-large (tcp-frame-too-large for a length prefix) and its connection is closed."
)

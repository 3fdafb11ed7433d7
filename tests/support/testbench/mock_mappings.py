"""A bundle's WireMock-style mock mappings (``mock-config/wiremock/*.json``) served on a loopback port.

Only what the bundles under tests/bundles use: a request matches on ``method``, ``urlPath`` (or ``url``),
``headers`` and ``queryParameters`` with ``equalTo``, and ``bodyPatterns`` with ``equalToJson`` (compared as
parsed JSON), ``equalTo`` or ``contains``; the matching mapping of the lowest ``priority`` answers with its
``status``, ``headers`` and ``jsonBody`` (or ``body``); no match is a 404. Every request is kept (method,
path, query, headers, body, the mapping that answered) so that a test can say what the SUT saw.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httptools


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    mapping: str | None
    """The name (or file) of the mapping that answered; None: none matched (404)."""


@dataclass
class MockMappings:
    mappings: list[dict[str, Any]]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    @classmethod
    def load(cls, folder: Path) -> MockMappings:
        found = []
        for path in sorted(folder.glob("*.json")):
            mapping = json.loads(path.read_text())
            mapping.setdefault("name", path.stem)
            found.append(mapping)
        found.sort(key=lambda m: m.get("priority", 5))
        return cls(found)

    def answered(self, name: str) -> int:
        return sum(1 for s in self.seen if s.mapping == name)

    def answer(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        for mapping in self.mappings:
            if _matches(mapping["request"], method, parts.path, url, query, headers, body):
                self.seen.append(Seen(method, parts.path, query, headers, body, mapping["name"]))
                response = mapping["response"]
                if "jsonBody" in response:
                    payload = json.dumps(response["jsonBody"]).encode()
                else:
                    payload = str(response.get("body", "")).encode()
                return int(response.get("status", 200)), dict(response.get("headers", {})), payload
        self.seen.append(Seen(method, parts.path, query, headers, body, None))
        return 404, {"Content-Type": "text/plain"}, b"no mapping matched"


def _matches(
    request: dict[str, Any],
    method: str,
    path: str,
    url: str,
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes,
) -> bool:
    if request.get("method", "ANY") not in ("ANY", method):
        return False
    if "urlPath" in request and request["urlPath"] != path:
        return False
    if "url" in request and request["url"] != url:
        return False
    for name, rule in request.get("headers", {}).items():
        if headers.get(name.lower()) != rule.get("equalTo"):
            return False
    for name, rule in request.get("queryParameters", {}).items():
        if query.get(name) != rule.get("equalTo"):
            return False
    return all(_body_matches(pattern, body) for pattern in request.get("bodyPatterns", []))


def _body_matches(pattern: dict[str, Any], body: bytes) -> bool:
    text = body.decode("utf-8", "replace")
    if "equalToJson" in pattern:
        try:
            return bool(json.loads(text) == json.loads(pattern["equalToJson"]))
        except json.JSONDecodeError:
            return False
    if "equalTo" in pattern:
        return bool(text == pattern["equalTo"])
    if "contains" in pattern:
        return str(pattern["contains"]) in text
    raise ValueError(f"body pattern {pattern} is not one this mock knows (equalToJson, equalTo, contains)")


class _Handler(asyncio.Protocol):
    def __init__(self, mocks: MockMappings) -> None:
        self._mocks = mocks
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url, self._headers, self._body = b"", {}, []  # type: ignore[var-annotated]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method().decode()
        status, headers, payload = self._mocks.answer(
            method, self._url.decode("latin-1"), dict(self._headers), b"".join(self._body)
        )
        self._url, self._headers, self._body = b"", {}, []
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        assert self._transport is not None
        self._transport.write(head.encode("latin-1") + b"\r\n" + payload)


@asynccontextmanager
async def mock_mappings(folder: Path) -> AsyncIterator[MockMappings]:
    """The mappings of ``folder`` served on a free loopback port (``.url``) for the block's length."""
    mocks = MockMappings.load(folder)
    server = await asyncio.get_running_loop().create_server(lambda: _Handler(mocks), "127.0.0.1", 0)
    mocks.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield mocks
    finally:
        server.close()
        await server.wait_closed()

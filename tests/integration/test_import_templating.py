"""An imported bundle renders as PocketHive would: SpEL texts built at run time call their helpers on the values,
bodies name the swarm and the correlation id, undefined names render as "", and a body written one tag a line
starts with its first line of text. Checked on the requests a real HTTP server (the demo cards API) receives."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from hivekeeper.api.manifests import load_swarm_text
from hivekeeper.api.swarm import Swarm
from hivekeeper.importer.translate import ImportOptions, import_bundle
from hivekeeper.local import demo_sut
from hivekeeper.local.runner import RunOptions, run

pytestmark = pytest.mark.integration
BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "signed-topups"


@dataclass
class Request:
    method: bytes
    path: bytes
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingSut:
    url: str
    requests: list[Request]


@pytest.fixture
async def sut() -> AsyncIterator[RecordingSut]:
    """The demo cards API on a free loopback port, keeping every request it answers."""
    requests: list[Request] = []
    state = demo_sut.DemoState()
    open_transports: set[asyncio.BaseTransport] = set()

    class Recording(demo_sut.DemoHandler):
        def __init__(self) -> None:
            super().__init__(0.0, 0.0, state)
            self._headers: dict[str, str] = {}

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            open_transports.add(transport)
            super().connection_made(transport)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._headers[name.decode().lower()] = value.decode()

        def on_message_complete(self) -> None:
            body = b"".join(self._body)
            requests.append(Request(self._parser.get_method(), self._url, self._headers, body))
            self._headers = {}
            super().on_message_complete()

    server = await asyncio.get_running_loop().create_server(Recording, "127.0.0.1", 0)
    try:
        yield RecordingSut(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", requests)
    finally:
        server.close()
        for transport in open_transports:
            transport.close()  # Python 3.11's Server.close leaves open connections open
        await server.wait_closed()


def imported(sut_url: str) -> Swarm:
    result = import_bundle(ImportOptions(bundle=BUNDLE))
    assert result.errors == 0, [f.message for f in result.findings]
    data = load_swarm_text(result.text, "signed-topups").model_dump(mode="json", by_alias=True)
    data["spec"]["sut"]["endpoints"]["default"]["baseUrl"] = sut_url
    return Swarm.model_validate(data)


async def test_built_spel_helpers_names_and_pebble_whitespace_reach_the_sut(sut: RecordingSut) -> None:
    swarm = imported(sut.url)
    assert swarm.spec.templating.undefined == "empty"
    assert swarm.spec.templating.tagNewline == "trim"
    result = await run(swarm, RunOptions(duration=2.0, out=io.StringIO()))
    processor = next(r for r in result["roles"] if r["name"] == "processor")
    assert set(processor["statusCodes"]) == {"200"}, processor["statusCodes"]
    topups = [r for r in sut.requests if r.method == b"POST"]
    assert len(topups) == sum(processor["statusCodes"].values()) > 0
    for request in topups:
        assert request.body.startswith(b'{"amount": '), request.body[:40]  # no blank line per tag above it
        body = orjson.loads(request.body)
        card = request.path.decode().split("/")[2]
        correlation = request.headers["x-correlation-id"]
        assert body["sender"] == f"{swarm.metadata.name}/{correlation}"
        assert len(correlation) == 36
        assert body["note"] == "", "an undefined name renders as empty"
        reference = body["reference"]
        signed = hmac.new(b"demo-key", f"{card}:{reference}".encode(), hashlib.sha256).hexdigest()
        assert request.headers["x-signature"] == signed
        payload = f'{{"cardId": "{card}", "reference": "{reference}", "origin": "{swarm.metadata.name}"}}\n'
        assert request.headers["x-body-digest"] == hashlib.sha256(payload.encode()).hexdigest()
    assert len({r.headers["x-correlation-id"] for r in topups}) == len(topups), "one correlation id per item"

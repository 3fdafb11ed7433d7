"""validate ≡ run: every example and every bundle under tests/bundles goes import -> validate -> run (a few
seconds against the demo SUT, with a real Redis), and what validate says is what the run does:

- validate clean ⇒ the run has no drop or alert caused by the config (a template error, an undefined name, a
  missing template or call id, an item a role cannot handle, a refused config);
- validate errors ⇒ the run shows them (those drops or alerts, or the run refuses the manifest), unless the
  expectation table says why the run cannot (and which helper's item fixes it);
- for a bundle, the import and validate agree on the errors (same count; the import names the bundle file).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from hivekeeper.api.manifests import load_swarm_text
from hivekeeper.api.swarm import Swarm
from hivekeeper.errors import InvalidInput
from hivekeeper.importer.agreement import INVOCATION
from hivekeeper.importer.translate import ImportOptions, import_bundle
from hivekeeper.local import demo_sut, endpoints
from hivekeeper.local.demo_auth import DEMO_SECRET
from hivekeeper.local.demo_tcp import TcpDemo
from hivekeeper.local.runner import RunOptions, run
from hivekeeper.validate.run import validate_text
from hivekeeper.worker.tcp_port import is_tcp_url
from testbench.tcp_sut import tcp_sut

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
TEXTS = {path: path.read_text() for path in EXAMPLES}
BUNDLES = sorted(p for p in (REPO / "tests" / "bundles").iterdir() if (p / "scenario.yaml").is_file())
RUN_SECONDS = 2.0

CONFIG_CAUSED = frozenset(
    {
        "template.error",
        "template.budget-exceeded",
        "request-builder.missing-template",
        "request-builder.missing-call-id",
        "request-builder.no-item",
        "http-sequence.missing-template",
        "http-sequence.bad-request",
        "processor.bad-request",
        "processor.bad-result-rules",
        "postprocessor.no-item",
        "postprocessor.bad-result",
        "moderator.no-item",
        "config.rejected",
        "runtime.exception",
    }
)
"""Drop and alert codes a config causes (not the SUT, not the broker)."""


@dataclass(frozen=True)
class Expect:
    """What is known about one manifest or bundle beyond validate ≡ run."""

    options: tuple[tuple[str, str], ...] = ()
    """Import options (``--sut``, ``--profile``) of a bundle with several."""
    unexercised: str = ""
    """Why validate's errors cannot show in a short run (the problem is in something no item reaches)."""
    datasets: tuple[str, ...] = ()
    """Redis lists the swarm reads, filled with card records before the run (else it would get no item)."""


CARDS = [f'{{"cardId": "card-{i}", "segment": "retail", "cardStatus": "active"}}' for i in range(20)]


EXPECT: dict[str, Expect] = {
    "usage": Expect(datasets=("cards.topup", "cards.active", "cards.suspended")),
    "cards-usage-redis": Expect(datasets=("import-usage.cards.topup", "import-usage.cards.active")),
    "customers-variables": Expect(
        options=(("sut", "local"), ("profile", "smoke")),
        unexercised="the untranslatable eval() is in the legacyAudit call, which the generator never selects",
    ),
}
"""Bundles and examples with something to say. Every entry names its reason; nothing is skipped."""

XFAIL: dict[str, str] = {}
"""Bundles that cannot pass yet, with the helper item of issue 16 that fixes them (xfail, strict)."""


def _params(paths: list[Path]) -> list[Any]:
    return [
        pytest.param(p, id=p.stem if p.is_file() else p.name, marks=_marks(p.stem if p.is_file() else p.name))
        for p in paths
    ]


def _marks(name: str) -> list[Any]:
    return [pytest.mark.xfail(strict=True, reason=XFAIL[name])] if name in XFAIL else []


@pytest.fixture
async def own_redis(redis_url: str) -> AsyncIterator[str]:
    """The bench's Redis, database 8, emptied around each case: the examples and bundles use fixed list names."""
    url = redis_url.rsplit("/", 1)[0] + "/8"
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    yield url
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def sut_url() -> Any:
    server = await demo_sut.serve("127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


def _aimed(swarm: Swarm, url: str, tcp_url: str) -> Swarm:
    """Every endpoint at the HTTP demo, a tcp:// or tcps:// one at the TCP demo (as ``--demo-sut`` aims them)."""
    data = swarm.model_dump(mode="json", by_alias=True)
    declared = data["spec"].setdefault("sut", {}).setdefault("endpoints", {})
    for endpoint in [*declared.values(), declared.setdefault("default", {"baseUrl": url})]:  # auth stays
        endpoint["baseUrl"] = tcp_url if is_tcp_url(endpoint["baseUrl"]) else url
    return Swarm.model_validate(data)


async def _config_caused(
    text: str, url: str, redis_url: str, secrets: dict[tuple[str, str], str], directory: Path | None
) -> tuple[list[str], int]:
    """What the run shows of config problems (drop and alert codes, or the refusal of the manifest), and how
    many items its roles took (a run that did nothing shows nothing either). ``secrets``: what auth profiles read
    (the demo SUT's own, as ``--demo-sut`` provides them, and a bundle's credentials). ``directory``: where the
    manifest is, so that its dataset files are read next to it, as ``hivekeeper run FILE`` reads them."""
    try:
        loaded = load_swarm_text(text, "manifest")
        mode, end_tag = endpoints.tcp_mode([loaded])
        async with tcp_sut(TcpDemo(mode, end_tag.encode() or b"\n")) as tcp:
            swarm = _aimed(loaded, url, tcp.url)
            datasets = {swarm.metadata.name: directory} if directory is not None else {}
            options = RunOptions(
                duration=RUN_SECONDS,
                redis_url=redis_url,
                out=io.StringIO(),
                provided_secrets=secrets,
                datasets=datasets,
            )
            result = await run(swarm, options)
    except InvalidInput as exc:
        return [f"refused: {exc}"], 0
    drops = [(r["name"], code) for r in result["roles"] for code in r.get("droppedBy", {})]
    shown = [f"{name}: {code}" for name, code in drops if code in CONFIG_CAUSED]
    alerts = [f"alert {a['code']}" for a in result["alerts"] if a["code"] in CONFIG_CAUSED]
    return shown + alerts, sum(r["processed"] + r["dropped"] for r in result["roles"])


async def _check(
    name: str,
    text: str,
    url: str,
    redis_url: str,
    secrets: dict[tuple[str, str], str] | None = None,
    file: Path | None = None,
) -> None:
    """``file``: the manifest's file, when it has one (validate and the run then read its dataset files next to
    it, as `hivekeeper validate FILE` and `hivekeeper run FILE` do)."""
    errors = [f for f in validate_text(text, str(file) if file else name).findings if f.severity == "error"]
    expect = EXPECT.get(name, Expect())
    client = aioredis.Redis.from_url(redis_url)
    for list_name in expect.datasets:
        await client.rpush(list_name, *CARDS)
    await client.aclose()
    directory = file.parent if file else None
    shown, taken = await _config_caused(text, url, redis_url, {**DEMO_SECRET, **(secrets or {})}, directory)
    if not errors:
        assert shown == [], f"validate passes {name}, but the run shows config problems: {shown}"
        assert taken > 0, f"the run of {name} took no item, so it shows nothing either way"
    elif expect.unexercised:
        assert shown == [], f"{name}: {expect.unexercised}, yet the run shows {shown}"
    else:
        assert shown, f"validate reports {[(f.code, f.path) for f in errors]} in {name}, but the run shows nothing"


@pytest.mark.parametrize("example", _params(EXAMPLES))
async def test_an_example_that_validates_runs_without_config_drops(example: Path, sut_url: str, own_redis: str) -> None:
    await _check(example.stem, TEXTS[example], sut_url, own_redis, file=example)


@pytest.mark.parametrize("bundle", _params(BUNDLES))
async def test_an_imported_bundle_validates_as_it_imports_and_runs_as_it_validates(
    bundle: Path, sut_url: str, own_redis: str
) -> None:
    expect = EXPECT.get(bundle.name, Expect())
    imported = import_bundle(ImportOptions(bundle=bundle, **dict(expect.options)))
    import_errors = [f for f in imported.findings if f.severity == "error" and f.code not in INVOCATION]
    validated = [f for f in validate_text(imported.text, bundle.name).findings if f.severity == "error"]
    assert len(import_errors) == len(validated), (
        f"import: {[(f.code, f.path) for f in import_errors]}; validate: {[(f.code, f.path) for f in validated]}"
    )
    assert all(f.file.startswith(str(bundle)) for f in import_errors), "the import names the bundle's files"
    secrets = {(name, key): value for name, keys in imported.secrets.items() for key, value in keys.items()}
    await _check(bundle.name, imported.text, sut_url, own_redis, secrets)

"""Imported PocketHive bundles (tests/bundles) run: ``hivekeeper import`` output against a real HTTP SUT
(the stateful demo service) and, for the Redis usage bundle, a real Redis."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml

from hivekeeper.api import roles as role_configs
from hivekeeper.api.manifests import load_swarm, load_swarm_text
from hivekeeper.api.swarm import Swarm
from hivekeeper.importer.translate import ImportOptions, ImportResult, import_bundle
from hivekeeper.local.runner import RunOptions, bootstrap_config, run
from testbench.demo import DemoService, demo_service

pytestmark = pytest.mark.integration
BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
USAGE_LISTS = ("import-usage.cards.topup", "import-usage.cards.active")


@pytest.fixture
async def sut() -> AsyncIterator[DemoService]:
    async with demo_service() as running:
        yield running


def _imported(bundle: str, sut_url: str, **options: Any) -> tuple[Swarm, ImportResult]:
    """The bundle imported, loaded as a Swarm, every role's config accepted by the workers, every SUT
    endpoint aimed at ``sut_url``."""
    result = import_bundle(ImportOptions(bundle=BUNDLES / bundle, **options))
    swarm = load_swarm_text(result.text, bundle)
    for role in swarm.spec.roles:
        assert role.role is not None, f"{role.name} kept a custom image"
        role_configs.validate(role.role, bootstrap_config(swarm, role.config))
    data = swarm.model_dump(mode="json", by_alias=True)
    for endpoint in data["spec"]["sut"]["endpoints"].values():
        endpoint["baseUrl"] = sut_url
    return Swarm.model_validate(data), result


def _role(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in result["roles"] if r["name"] == name)


def _only_2xx(role: dict[str, Any]) -> int:
    """The role's responses, asserting every one was a 2xx; their count."""
    codes = role["statusCodes"]
    assert codes, f"{role['name']} made no call"
    assert all(code.startswith("2") for code in codes), codes
    assert role["errors"] == 0
    return sum(codes.values())


async def test_the_plain_pipeline_bundle_runs_and_both_processors_get_only_2xx(sut: DemoService) -> None:
    swarm, _ = _imported("cards-pipeline", sut.url)
    result = await run(swarm, RunOptions(duration=2.0, out=io.StringIO()))
    calls = _only_2xx(_role(result, "processor")) + _only_2xx(_role(result, "processor-2"))
    assert calls == _role(result, "generator")["processed"] == _role(result, "postprocessor")["processed"]
    assert _role(result, "request-builder")["dropped"] == 0, "every x-ph-call-id found its template"
    assert set(sut.state.calls) == {"GET /cards/{id}/balance", "POST /cards/{id}/topup"}


async def test_the_journey_bundle_runs_and_the_sut_holds_linked_customers_accounts_and_cards(sut: DemoService) -> None:
    swarm, _ = _imported("onboarding-journey", sut.url)
    result = await run(swarm, RunOptions(duration=2.0, out=io.StringIO()))
    journeys = _role(result, "onboarding")
    assert _only_2xx(journeys) == 4 * journeys["processed"], "four calls per journey, none retried"
    state = sut.state
    assert len(state.customers) == len(state.accounts) == len(state.cards) == journeys["processed"] > 0
    for card in state.cards.values():
        account = state.accounts[card["accountId"]]
        assert account["customerId"] == card["customerId"]
        assert re.fullmatch(r"applicant-\d{5}", state.customers[card["customerId"]]["name"])
    currencies = {a["currency"] for a in state.accounts.values()}
    assert currencies <= {"EUR", "USD"}, "the Pebble if/equals in openAccount rendered"


@pytest.fixture
async def usage_lists(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url, decode_responses=True)
    await client.delete(*USAGE_LISTS)
    yield client
    await client.delete(*USAGE_LISTS)
    await client.aclose()


async def test_the_redis_usage_bundle_pops_calls_and_recycles_every_card_into_its_next_list(
    sut: DemoService, redis_url: str, usage_lists: aioredis.Redis
) -> None:
    topup, active = USAGE_LISTS
    await usage_lists.rpush(topup, *(f'{{"cardId": "t{i}"}}' for i in range(10)))
    await usage_lists.rpush(active, *(f'{{"cardId": "a{i}"}}' for i in range(10)))
    swarm, _ = _imported("cards-usage-redis", sut.url)
    result = await run(swarm, RunOptions(duration=3.0, redis_url=redis_url, out=io.StringIO()))
    calls = _only_2xx(_role(result, "processor"))
    assert calls == _role(result, "cards")["processed"] > 20, "cards went round more than once"
    assert sut.state.calls["POST /cards/{id}/topup"] > 0
    assert sut.state.calls["GET /cards/{id}/balance"] > 0
    left = [await usage_lists.lrange(name, 0, -1) for name in USAGE_LISTS]
    assert sorted(left[0] + left[1]) == sorted(
        [f'{{"cardId": "t{i}"}}' for i in range(10)] + [f'{{"cardId": "a{i}"}}' for i in range(10)]
    ), "every card is back in a list, unchanged (sourceStep FIRST)"
    assert result["datasets"] == {topup: len(left[0]), active: len(left[1])}
    assert result["datasetBooks"]["balanced"], result["datasetBooks"]


async def test_the_variables_bundle_runs_with_its_spel_helpers_and_reports_the_one_it_cannot_translate(
    sut: DemoService,
) -> None:
    swarm, imported = _imported("customers-variables", sut.url, sut="local", profile="smoke")
    [unsupported] = [f for f in imported.findings if f.severity == "error"]
    assert (unsupported.code, unsupported.file.rsplit("/", 1)[-1]) == ("spel-unsupported", "legacy-audit.yaml")
    assert 'eval("T(java.time.Instant).now().toEpochMilli()")' in unsupported.message
    assert swarm.spec.vars == {"segment": "retail", "ratePerSec": 25, "tenant": "tenant-local"}
    result = await run(swarm, RunOptions(duration=2.0, out=io.StringIO()))
    assert _only_2xx(_role(result, "processor")) == len(sut.state.customers) > 0
    names = sorted(c["name"] for c in sut.state.customers.values())
    assert all(re.fullmatch(r"C-[0-9A-Z]{4}", name) for name in names), names
    assert names[0] == "C-0001", "#sequence counted from 1 in alphanum mode"
    assert {c["segment"] for c in sut.state.customers.values()} == {"retail"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hivekeeper.cli", "import", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_prints_the_manifest_and_warnings_and_exits_0_when_all_was_translated() -> None:
    done = _cli(str(BUNDLES / "cards-pipeline"), "--name", "cards")
    assert done.returncode == 0, done.stderr
    assert load_swarm_text(done.stdout).metadata.name == "cards"
    lines = done.stderr.splitlines()
    assert re.fullmatch(
        r".*/cards-pipeline/scenario\.yaml:\d+: warning role-renamed: .*\(template\.bees\[3\]\.role\)", lines[0]
    )
    assert lines[1].startswith("  fix: ")
    assert lines[-1].endswith("imported 'cards-pipeline' as Swarm 'cards' to stdout: 0 errors, 1 warnings")


def test_the_cli_writes_the_manifest_with_o_and_exits_1_when_something_was_not_translated(tmp_path: Path) -> None:
    out = tmp_path / "swarm.yaml"
    done = _cli(str(BUNDLES / "customers-variables"), "--sut", "staging", "--profile", "load", "-o", str(out))
    assert done.returncode == 1
    assert done.stdout == ""
    swarm = load_swarm(out)
    assert swarm.spec.vars["tenant"] == "tenant-staging"
    assert swarm.spec.sut.endpoints["api"].baseUrl == "https://cards-api.staging.example"
    assert "error spel-unsupported" in done.stderr
    assert "warning ssl-verify-default" in done.stderr, "staging is https, which PocketHive did not verify"


def test_the_cli_exits_2_for_an_unreadable_bundle_and_1_for_another_protocol_major(tmp_path: Path) -> None:
    missing = _cli(str(tmp_path / "nope"))
    assert (missing.returncode, missing.stdout) == (2, "")
    assert "not a folder" in missing.stderr
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "scenario.yaml").write_text(yaml.safe_dump({"protocolVersion": "1.4", "id": "old"}))
    refused = _cli(str(tmp_path / "old"))
    assert (refused.returncode, refused.stdout) == (1, "")
    assert "error protocol-version: protocolVersion '1.4'" in refused.stderr

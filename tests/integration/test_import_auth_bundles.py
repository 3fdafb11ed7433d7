"""The OAuth2 bundles (tests/bundles/payments-oauth, claims-oauth-short-ttl) imported and run against their own
mock mappings on loopback: every journey makes its six calls, each with the issued token (the mocks answer
nothing else), ids flow from step to step, tokens that expire after 1 s are fetched again, and the token
requests are counted apart from the calls."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.api.manifests import load_swarm_text
from hivekeeper.api.swarm import Swarm
from hivekeeper.importer.command import write_secrets
from hivekeeper.importer.translate import ImportOptions, import_bundle
from hivekeeper.local.runner import RunInputError, RunOptions, run
from testbench.mock_mappings import MockMappings, mock_mappings

pytestmark = pytest.mark.integration
BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
CALLS = {
    "payments-oauth": ("authorize", "quote", "reserve", "confirm", "settle", "receipt"),
    "claims-oauth-short-ttl": ("open", "policy", "assess", "update", "approve", "receipt"),
}


def _imported(bundle: str, url: str, secrets: Path | None) -> Swarm:
    result = import_bundle(ImportOptions(bundle=BUNDLES / bundle))
    assert result.errors == 0, [f.message for f in result.findings]
    if secrets is not None:
        write_secrets(result.secrets, secrets)
    swarm = load_swarm_text(result.text, bundle)
    data = swarm.model_dump(mode="json", by_alias=True, exclude_none=True)
    for endpoint in data["spec"]["sut"]["endpoints"].values():
        endpoint["baseUrl"] = url
    return Swarm.model_validate(data)


def _journeys(result: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in result["roles"] if r["role"] == "http-sequence")


async def _run(bundle: str, tmp_path: Path, seconds: float) -> tuple[dict[str, Any], MockMappings]:
    async with mock_mappings(BUNDLES / bundle / "mock-config" / "wiremock") as mocks:
        swarm = _imported(bundle, mocks.url, tmp_path / "secrets")
        options = RunOptions(duration=seconds, out=io.StringIO(), secrets_dirs=(tmp_path / "secrets",))
        result = await run(swarm, options)
    return result, mocks


@pytest.mark.parametrize("bundle", sorted(CALLS))
async def test_every_journey_of_an_oauth2_bundle_makes_its_six_calls_with_the_token(
    bundle: str, tmp_path: Path
) -> None:
    result, mocks = await _run(bundle, tmp_path, 4.0)
    journeys = _journeys(result)
    assert journeys["errors"] == 0
    assert journeys["processed"] > 0
    unmatched = [(s.method, s.path, s.headers.get("authorization")) for s in mocks.seen if s.mapping is None]
    assert unmatched == [], "every request matched a mapping: the right token, path, query and body"
    prefix = bundle.split("-", maxsplit=1)[0]
    for call in CALLS[bundle]:
        assert mocks.answered(f"{prefix}-{call}") == journeys["processed"], call
    assert journeys["statusCodes"] == {"200": 6 * journeys["processed"]}, "token requests are not SUT calls"
    tokens = [s for s in mocks.seen if s.path.startswith("/oauth/token")]
    assert journeys["auth"]["tokenFetches"] == len(tokens) >= 1
    assert journeys["auth"]["tokenFetchErrors"] == 0


async def test_tokens_that_expire_after_a_second_are_fetched_again_while_the_journeys_go_on(tmp_path: Path) -> None:
    result, mocks = await _run("claims-oauth-short-ttl", tmp_path, 4.0)
    journeys = _journeys(result)
    assert journeys["processed"] == 15, "the generator's maxMessages, over three seconds"
    tokens = [s for s in mocks.seen if s.path.startswith("/oauth/token")]
    assert len(tokens) >= 3, "a 1 s token is refreshed ahead of expiry: several fetches over the run"
    assert len(tokens) <= 12, "one fetch at a time, not one per call"
    assert all(s.headers.get("authorization") is None for s in tokens), "clientAuth body, as PocketHive sends it"


async def test_without_the_credentials_the_run_is_refused_naming_the_profile_field_and_the_fix(tmp_path: Path) -> None:
    async with mock_mappings(BUNDLES / "payments-oauth" / "mock-config" / "wiremock") as mocks:
        swarm = _imported("payments-oauth", mocks.url, None)
        with pytest.raises(RunInputError) as refused:
            await run(swarm, RunOptions(duration=1.0, out=io.StringIO()))
    message = str(refused.value)
    assert "auth.payments-client: auth.payments-client.clientSecret: Secret 'hivekeeper-payments-oauth-auth'" in message
    assert "pass --secrets DIR" in message
    assert "not-a-real-secret" not in message

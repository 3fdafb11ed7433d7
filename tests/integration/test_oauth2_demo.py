"""examples/oauth2-journey.yaml against the demo SUT over loopback: its token endpoint issues short-lived tokens,
its /secure/ paths answer 401 without one; the workers fetch a token per profile ahead of expiry (never per
call), a revoked token costs one 401 and one retry per request that met it, and ``hivekeeper run --demo-sut``
shows the token fetches in its summary."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.api.auth import AuthProfile
from hivekeeper.api.manifests import load_swarm
from hivekeeper.api.swarm import Swarm
from hivekeeper.local.demo_auth import DEMO_SECRET
from hivekeeper.local.endpoints import aimed
from hivekeeper.local.runner import RunOptions, run
from hivekeeper.templating.engine import TemplateEngine
from hivekeeper.worker.auth.profiles import Authenticator
from hivekeeper.worker.auth.secrets import SecretReader
from hivekeeper.worker.stats import AuthStats
from testbench.demo import DemoService, demo_service

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "oauth2-journey.yaml"


def _onboard(result: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in result["roles"] if r["name"] == "onboard")


async def _run(demo: DemoService, seconds: float, during: Any = None) -> dict[str, Any]:
    swarm = aimed(load_swarm(EXAMPLE), {"default": demo.url})
    options = RunOptions(duration=seconds, out=io.StringIO(), provided_secrets=dict(DEMO_SECRET))
    running = asyncio.create_task(run(swarm, options))
    if during is not None:
        await during()
    return await running


async def test_the_journey_runs_many_token_lifetimes_without_an_error_fetching_tokens_ahead_of_expiry() -> None:
    async with demo_service(token_ttl=1.0) as demo:
        result = await _run(demo, 5.0)
        auth = demo.state.auth
    onboard = _onboard(result)
    assert onboard["errors"] == 0
    assert onboard["processed"] > 50
    assert set(onboard["statusCodes"]) <= {"200", "201"}
    assert auth.unauthorized == 0, "no call went out with an expired token"
    assert onboard["auth"]["tokenFetches"] == auth.issued
    assert 8 <= auth.issued <= 30, "two profiles, a token each about every half second; never one per call"
    assert result["verdict"]["result"] == "Passed"


async def test_a_revoked_token_costs_one_401_and_one_retry_with_a_fresh_token_and_no_error() -> None:
    async with demo_service(token_ttl=30.0) as demo:

        async def revoke() -> None:
            await asyncio.sleep(1.5)
            demo.state.auth.tokens.clear()  # the authorization server forgets every token it issued

        result = await _run(demo, 3.0, revoke)
        unauthorized, issued = demo.state.auth.unauthorized, demo.state.auth.issued
    onboard = _onboard(result)
    assert onboard["errors"] == 0
    assert unauthorized >= 1
    assert onboard["auth"]["unauthorizedRetries"] == unauthorized
    assert onboard["auth"]["tokenFetches"] == issued == 4, (
        "two profiles: a token each, and one more each after the 401s"
    )


def test_hivekeeper_run_demo_sut_passes_the_example_and_prints_the_token_fetches() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hivekeeper.cli",
            "run",
            str(EXAMPLE),
            "--demo-sut",
            "--duration",
            "6",
            "--interval",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout[done.stdout.rindex("swarm oauth2-journey: ran") :]
    assert "onboard auth (not in the figures above): token fetches" in summary
    assert "failed 0" in summary
    assert "PASSED" in summary


async def test_fifty_concurrent_requests_without_a_token_make_one_token_request_to_the_real_endpoint() -> None:

    async with demo_service(token_ttl=60.0) as demo:
        profile = AuthProfile.model_validate(
            {
                "type": "oauth2-client-credentials",
                "tokenUrl": f"{demo.url}/oauth/token",
                "clientId": "hivekeeper-demo",
                "clientSecret": {"secretKeyRef": {"name": "hivekeeper-demo-sut", "key": "clientSecret"}},
            }
        )
        stats = AuthStats()
        auth = Authenticator(SecretReader(provided=DEMO_SECRET), stats, TemplateEngine()).prepare(
            {"api": profile}, {}, ssl_verify=True
        )
        given = await asyncio.gather(*(auth.credentials("api") for _ in range(50)))
        auth.close()
        issued = demo.state.auth.issued
    assert issued == stats.token_fetches == 1
    assert len({c.token for c in given}) == 1


async def test_a_request_builder_pipeline_carries_the_profile_name_and_the_processor_adds_the_token() -> None:

    spec = {
        "sut": {"endpoints": {"default": {"baseUrl": "http://unused"}}},
        "auth": {
            "api": {
                "type": "oauth2-client-credentials",
                "tokenUrl": "{{ sut.endpoints.default.baseUrl }}/oauth/token",
                "clientId": "hivekeeper-demo",
                "clientSecret": {"secretKeyRef": {"name": "hivekeeper-demo-sut", "key": "clientSecret"}},
            }
        },
        "templates": [
            {
                "serviceId": "cards",
                "callId": "balance",
                "pathTemplate": "/secure/cards/{{ payload.id }}/balance",
                "auth": "api",
            }
        ],
        "roles": [
            {
                "name": "feeder",
                "role": "generator",
                "work": {"out": "build"},
                "config": {
                    "inputs": {"type": "SCHEDULER", "scheduler": {"ratePerSec": 50}},
                    "message": {"body": '{"id": "c-1"}', "headers": {"x-ph-call-id": "balance"}},
                },
            },
            {
                "name": "builder",
                "role": "request-builder",
                "work": {"in": "build", "out": "call"},
                "config": {"serviceId": "cards"},
            },
            {
                "name": "caller",
                "role": "processor",
                "work": {"in": "call"},
                "config": {"baseUrl": "{{ sut.endpoints.default.baseUrl }}"},
            },
        ],
    }
    async with demo_service(token_ttl=1.0) as demo:
        swarm = aimed(Swarm.model_validate({"metadata": {"name": "pipeline"}, "spec": spec}), {"default": demo.url})
        options = RunOptions(duration=3.0, out=io.StringIO(), provided_secrets=dict(DEMO_SECRET))
        result = await run(swarm, options)
        auth = demo.state.auth
    caller = next(r for r in result["roles"] if r["name"] == "caller")
    assert caller["errors"] == 0
    assert caller["statusCodes"]["200"] == caller["processed"] > 100
    assert auth.unauthorized == 0
    assert caller["auth"]["tokenFetches"] == auth.issued >= 3, "1 s tokens over 3 s, fetched by the processor"

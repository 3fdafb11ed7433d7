"""Signed signals (pure): what a worker given the operator's public key accepts and refuses."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable

import orjson
import pytest

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol.signing import REMEMBERED, Signer, SigningKeyError, Verifier

SCOPE = env.Scope(swarmId="ns_s", role="caller", instance="ALL")


def _signal(data: dict[str, object] | None = None) -> env.Envelope:
    return env.signal("config-update", SCOPE, data or {"ratePerSec": 5}, origin="operator")


def _problem(verifier: Verifier, body: bytes, signature: str | None, now: dt.datetime | None = None) -> str | None:
    refusal = verifier.problem(body, signature, env.parse(body), now=now)
    return None if refusal is None else refusal.code


def test_a_signed_signal_is_accepted_once_and_its_envelope_keeps_exactly_the_protocols_keys() -> None:
    signer = Signer.generate()
    verifier = Verifier.from_text(signer.public_key())
    body = _signal().to_json()
    signature = signer.sign(body)
    assert _problem(verifier, body, signature) is None
    assert _problem(verifier, body, signature) == "replayed"
    assert "signature" not in orjson.loads(body), "the signature travels in the AMQP header, beside the body"


@pytest.mark.parametrize(
    ("alter", "code"),
    [
        (lambda body, sig: (_signal({"ratePerSec": 5000}).to_json(), sig), "forged"),
        (lambda body, sig: (body.replace(b"ns_s", b"other_s"), sig), "forged"),
        (lambda body, sig: (body, base64.b64encode(b"x" * 64).decode()), "forged"),
        (lambda body, sig: (body, "not base64!"), "forged"),
        (lambda body, sig: (body, "A" * 2000), "forged"),
        (lambda body, sig: (body, None), "unsigned"),
        (lambda body, sig: (body, ""), "unsigned"),
    ],
)
def test_an_altered_or_unsigned_signal_is_refused(
    alter: Callable[[bytes, str], tuple[bytes, str | None]], code: str
) -> None:
    signer = Signer.generate()
    body = _signal().to_json()
    altered, signature = alter(body, signer.sign(body))
    assert _problem(Verifier.from_text(signer.public_key()), altered, signature) == code


def test_another_keys_signature_is_forged() -> None:
    body = _signal().to_json()
    refusal = Verifier.from_text(Signer.generate().public_key()).problem(body, Signer.generate().sign(body), _signal())
    assert refusal is not None
    assert (refusal.code, "does not match the operator's key" in refusal.message) == ("forged", True)


def test_a_stale_or_future_signal_is_refused_with_its_age() -> None:
    signer = Signer.generate()
    verifier = Verifier.from_text(signer.public_key())
    signal = _signal()
    body = signal.to_json()
    sent = dt.datetime.fromisoformat(signal.timestamp.replace("Z", "+00:00"))
    late = verifier.problem(body, signer.sign(body), signal, now=sent + dt.timedelta(seconds=301))
    early = verifier.problem(body, signer.sign(body), signal, now=sent - dt.timedelta(seconds=301))
    assert late is not None
    assert early is not None
    assert (late.code, "301s old" in late.message) == ("stale", True)
    assert _problem(verifier, body, signer.sign(body), now=sent + dt.timedelta(seconds=299)) is None


def test_the_replay_memory_is_bounded() -> None:
    signer = Signer.generate()
    verifier = Verifier.from_text(signer.public_key())
    for _ in range(REMEMBERED + 1):
        body = _signal().to_json()
        assert _problem(verifier, body, signer.sign(body)) is None
    assert len(verifier._seen) == REMEMBERED


def test_the_seed_and_key_are_base64_of_32_bytes_with_errors_naming_the_variable() -> None:
    seed = base64.b64encode(bytes(range(32))).decode()
    assert Signer.from_seed(seed).public_key() == Signer.from_seed(seed).public_key()
    with pytest.raises(SigningKeyError, match="HIVEKEEPER_SIGNING_KEY decodes to 3 bytes"):
        Signer.from_seed(base64.b64encode(b"abc").decode())
    with pytest.raises(SigningKeyError, match="HIVEKEEPER_SIGNAL_KEY is not base64"):
        Verifier.from_text("%%%")

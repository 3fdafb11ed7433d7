"""Signed signals (pure): what a worker given the operator's public key accepts and refuses."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from hivekeeper.protocol import envelope as env
from hivekeeper.protocol.signing import REMEMBERED, Signer, SigningKeyError, Verifier

SCOPE = env.Scope(swarmId="ns_s", role="caller", instance="ALL")


def _signal(data: dict[str, object] | None = None) -> env.Envelope:
    return env.signal("config-update", SCOPE, data or {"ratePerSec": 5}, origin="operator")


def test_a_signed_signal_survives_the_wire_and_is_accepted_once() -> None:
    signer = Signer.generate()
    verifier = Verifier.from_text(signer.public_key())
    wire = env.parse(signer.sign(_signal()).to_json())
    assert verifier.problem(wire) is None
    refusal = verifier.problem(wire)
    assert refusal is not None
    assert refusal.code == "replayed"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"data": {"ratePerSec": 5000}}, "forged"),
        ({"scope": env.Scope(swarmId="other_s", role="caller", instance="ALL")}, "forged"),
        ({"signature": base64.b64encode(b"x" * 64).decode()}, "forged"),
        ({"signature": "not base64!"}, "forged"),
        ({"signature": None}, "unsigned"),
    ],
)
def test_an_altered_or_unsigned_signal_is_refused(change: dict[str, object], code: str) -> None:
    signer = Signer.generate()
    altered = signer.sign(_signal()).model_copy(update=change)
    refusal = Verifier.from_text(signer.public_key()).problem(altered)
    assert refusal is not None
    assert refusal.code == code


def test_another_keys_signature_is_forged() -> None:
    refusal = Verifier.from_text(Signer.generate().public_key()).problem(Signer.generate().sign(_signal()))
    assert refusal is not None
    assert (refusal.code, "does not match the operator's key" in refusal.message) == ("forged", True)


def test_a_stale_or_future_signal_is_refused_with_its_age() -> None:
    signer = Signer.generate()
    verifier = Verifier.from_text(signer.public_key())
    signal = signer.sign(_signal())
    sent = dt.datetime.fromisoformat(signal.timestamp.replace("Z", "+00:00"))
    late = verifier.problem(signal, now=sent + dt.timedelta(seconds=301))
    early = verifier.problem(signal, now=sent - dt.timedelta(seconds=301))
    assert late is not None
    assert early is not None
    assert (late.code, "301s old" in late.message) == ("stale", True)
    assert verifier.problem(signal, now=sent + dt.timedelta(seconds=299)) is None


def test_the_replay_memory_is_bounded() -> None:
    signer = Signer.generate()
    verifier = Verifier.from_text(signer.public_key())
    first = signer.sign(_signal())
    assert verifier.problem(first) is None
    for _ in range(REMEMBERED):
        assert verifier.problem(signer.sign(_signal())) is None
    assert len(verifier._seen) == REMEMBERED


def test_the_seed_and_key_are_base64_of_32_bytes_with_errors_naming_the_variable() -> None:
    seed = base64.b64encode(bytes(range(32))).decode()
    assert Signer.from_seed(seed).public_key() == Signer.from_seed(seed).public_key()
    with pytest.raises(SigningKeyError, match="HIVEKEEPER_SIGNING_KEY decodes to 3 bytes"):
        Signer.from_seed(base64.b64encode(b"abc").decode())
    with pytest.raises(SigningKeyError, match="HIVEKEEPER_SIGNAL_KEY is not base64"):
        Verifier.from_text("%%%")

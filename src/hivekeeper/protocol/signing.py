"""Signed control signals: only the operator can steer workers (docs/decisions/0007-signed-signals.md).

Every worker of a cluster shares the broker, and anyone holding a broker credential could publish a
``signal.config-update`` to any swarm. So the operator signs each signal with an Ed25519 key only it
holds (a Secret in its own namespace), and each worker pod gets the public key
(``HIVEKEEPER_SIGNAL_KEY``, not a secret) and refuses a signal that is unsigned, signed by another key,
altered, older than :data:`MAX_AGE_SECONDS` or a replay of one it has already seen.

The signature covers the exact bytes of the signal's body, so scope, type, data and timestamp are all
covered, and travels beside it in the AMQP header :data:`SIGNATURE_HEADER`: the envelope itself keeps
exactly PocketHive's keys (docs/architecture.md §9).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections import OrderedDict
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hivekeeper.errors import InvalidInput
from hivekeeper.protocol.envelope import Envelope

MAX_AGE_SECONDS = 300.0
"""A signal older (or further in the future) than this is refused: bounds replays and clock skew."""
SIGNATURE_HEADER = "hivekeeper-signature"
"""The AMQP header of a signed signal: the base64 Ed25519 signature of the message body."""
SIGNATURE_MAX_LENGTH = 128
"""Characters of a signature header read at most (an Ed25519 signature is 88 in base64)."""
REMEMBERED = 4096
"""Signals (by correlation id) remembered to refuse a replay within MAX_AGE_SECONDS."""


class Refusal(NamedTuple):
    """Why a signal is refused: ``code`` (unsigned, forged, stale, replayed) and a sentence for people."""

    code: str
    message: str


class SigningKeyError(InvalidInput, ValueError):
    """A signing or verifying key that cannot be read; the message names the variable and the fix."""


def _b64(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningKeyError(f"{what} is not base64 ({exc}); expected the base64 of 32 bytes") from exc
    if len(raw) != 32:
        raise SigningKeyError(f"{what} decodes to {len(raw)} bytes; an Ed25519 key is 32 bytes (base64 of 32 bytes)")
    return raw


class Signer:
    """The operator's side: signs every signal it publishes."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def from_seed(cls, text: str, what: str = "HIVEKEEPER_SIGNING_KEY") -> Signer:
        """From the base64 of a 32-byte seed (what the Helm chart generates: ``randBytes 32``)."""
        return cls(Ed25519PrivateKey.from_private_bytes(_b64(text, what)))

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    def public_key(self) -> str:
        """The base64 public key workers verify with (``HIVEKEEPER_SIGNAL_KEY``)."""
        raw = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, body: bytes) -> str:
        """The base64 signature of a signal's ``body``, to publish in its :data:`SIGNATURE_HEADER`."""
        return base64.b64encode(self._private.sign(body)).decode()


class Verifier:
    """A worker's side: accepts a signal only if the operator signed it, recently, and only once."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self._public = public
        self._seen: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def from_text(cls, text: str, what: str = "HIVEKEEPER_SIGNAL_KEY") -> Verifier:
        return cls(Ed25519PublicKey.from_public_bytes(_b64(text, what)))

    def problem(
        self, body: bytes, signature: str | None, signal: Envelope, now: dt.datetime | None = None
    ) -> Refusal | None:
        """Why ``signal`` (read from ``body``, which came with ``signature``) must be refused, or None when it is
        the operator's, fresh and new."""
        if not signature:
            return Refusal("unsigned", "the signal is not signed; this worker accepts signals from its operator only")
        try:
            if len(signature) > SIGNATURE_MAX_LENGTH:
                raise ValueError("longer than any Ed25519 signature")
            self._public.verify(base64.b64decode(signature, validate=True), body)
        except (InvalidSignature, binascii.Error, ValueError):
            return Refusal("forged", "the signal's signature does not match the operator's key (forged or altered)")
        try:
            sent = dt.datetime.fromisoformat(signal.timestamp.replace("Z", "+00:00"))
        except ValueError:
            return Refusal("stale", f"the signal's timestamp {signal.timestamp!r} is not RFC 3339")
        age = ((now or dt.datetime.now(dt.UTC)) - sent).total_seconds()
        if abs(age) > MAX_AGE_SECONDS:
            limit = f"{MAX_AGE_SECONDS:.0f}s"
            return Refusal(
                "stale", f"the signal is {age:.0f}s old; signals older than {limit} are refused (replay or clock skew)"
            )
        key = signal.correlationId or signature
        if key in self._seen:
            return Refusal("replayed", f"the signal {key} was already received (a replay)")
        self._seen[key] = None
        while len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
        return None

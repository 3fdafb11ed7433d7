"""TLS contexts that present a client certificate (auth profiles of type ``mtls``)."""

from __future__ import annotations

import ssl
from pathlib import Path

from hivekeeper.errors import InvalidInput


class ClientCertError(InvalidInput, ValueError):
    """A client certificate or key cannot be loaded (wrong file, not PEM, key and certificate do not match)."""


def client_context(cert: Path, key: Path, ca: Path | None, *, verify: bool, where: str) -> ssl.SSLContext:
    """A context presenting ``cert``/``key``; the server is verified against ``ca`` (else the system's CAs)
    unless ``verify`` is off."""
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
        context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise ClientCertError(
            f"{where}: cannot load the client certificate {cert.name} with key {key.name}: {exc}; give PEM files "
            "whose key matches the certificate"
        ) from exc
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

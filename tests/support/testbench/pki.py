"""Throwaway certificates for the local cluster: a CA, the API server's and kubelet's serving certs, an admin
client cert, the kubelet's node identity (``system:node:<name>`` in ``system:nodes``, for the Node
authorizer), and the service-account signing key."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALID = dt.timedelta(days=30)


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path
    kubelet_cert: Path
    """The kubelet's serving certificate (node name and address), which the API server uses for logs and exec."""
    kubelet_key: Path
    node_client_cert: Path
    """The kubelet's client certificate: ``system:node:<name>``, group ``system:nodes``."""
    node_client_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
    usages: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _ip(text: str) -> x509.GeneralName:
    return x509.IPAddress(ipaddress.ip_address(text))


def make_pki(
    directory: Path,
    *,
    node_name: str = "hivekeeper-node",
    node_ip: str = "10.244.0.1",
    api_service_ip: str = "10.96.0.1",
) -> Pki:
    """Certificates for a cluster whose API server is reached on loopback (through the relay), on the node's
    address, and from pods at the ``kubernetes`` Service (``api_service_ip`` and its DNS names)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("hivekeeper-test-ca")
    ca = _issue(ca_name, ca_key, ca_name, ca_key, ca=True)

    serving_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
        _ip("127.0.0.1"),
        _ip(node_ip),
        _ip(api_service_ip),
    ]
    serving = _issue(
        _name("kube-apiserver"),
        serving_key,
        ca_name,
        ca_key,
        sans=sans,
        usages=[ExtendedKeyUsageOID.SERVER_AUTH],
    )

    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _issue(
        _name("hivekeeper-test-admin", "system:masters"),
        admin_key,
        ca_name,
        ca_key,
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    kubelet_key = ec.generate_private_key(ec.SECP256R1())
    kubelet = _issue(
        _name(node_name),
        kubelet_key,
        ca_name,
        ca_key,
        sans=[x509.DNSName(node_name), _ip(node_ip)],
        usages=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    node_client_key = ec.generate_private_key(ec.SECP256R1())
    node_client = _issue(
        _name(f"system:node:{node_name}", "system:nodes"),
        node_client_key,
        ca_name,
        ca_key,
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )

    pki = Pki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
        kubelet_cert=directory / "kubelet.crt",
        kubelet_key=directory / "kubelet.key",
        node_client_cert=directory / "node-client.crt",
        node_client_key=directory / "node-client.key",
    )
    _write_cert(pki.ca_cert, ca)
    _write_cert(pki.serving_cert, serving)
    _write_key(pki.serving_key, serving_key)
    _write_cert(pki.admin_cert, admin)
    _write_key(pki.admin_key, admin_key)
    _write_key(pki.sa_key, sa_key)
    _write_cert(pki.kubelet_cert, kubelet)
    _write_key(pki.kubelet_key, kubelet_key)
    _write_cert(pki.node_client_cert, node_client)
    _write_key(pki.node_client_key, node_client_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    )
    return pki

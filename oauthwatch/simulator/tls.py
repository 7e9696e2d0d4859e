"""The local org's own certificate authority and HTTPS server certificate.

simple-salesforce forces ``https://`` on every URL it builds, so the local org must speak TLS.
A private CA (not a bare self-signed leaf) lets clients pin one file (``ca.pem``) as
``requests.Session.verify`` while the server certificate carries the SANs clients check
(127.0.0.1 and localhost). Both are created once per state folder and reused on restart, so a
client configured yesterday still trusts the org today.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the CA bundle and the server's certificate and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "oauthwatch local org"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _still_valid(path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def _load_ca(state_dir: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate] | None:
    """The existing CA, when both files are there and the certificate has more than a day left."""
    if not _still_valid(state_dir / CA_CERT):
        return None
    try:
        key = serialization.load_pem_private_key((state_dir / CA_KEY).read_bytes(), None)
        cert = x509.load_pem_x509_certificate((state_dir / CA_CERT).read_bytes())
    except (OSError, ValueError):
        return None
    return (key, cert) if isinstance(key, rsa.RSAPrivateKey) else None


def _new_ca(now: dt.datetime) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    ca_key = _key()
    ca_name = _name("oauthwatch local org CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca_cert


def ensure_tls(state_dir: Path) -> TlsFiles:
    """Create (or reuse) the CA and a server certificate for 127.0.0.1/localhost in ``state_dir``.

    The CA is kept as long as it is valid (clients pin it); only the server certificate is
    reissued when it is missing or about to expire.
    """
    state_dir = Path(state_dir)
    files = TlsFiles(state_dir / CA_CERT, state_dir / SERVER_CERT, state_dir / SERVER_KEY)
    existing = _load_ca(state_dir)
    if existing and files.server_key.exists() and _still_valid(files.server_cert):
        return files
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    state_dir.mkdir(parents=True, exist_ok=True)
    if existing is None:
        ca_key, ca_cert = _new_ca(now)
        _write_key(state_dir / CA_KEY, ca_key)
        files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    else:
        ca_key, ca_cert = existing
    ca_name = ca_cert.subject
    srv_key = _key()
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(files.server_key, srv_key)
    files.server_cert.write_bytes(srv_cert.public_bytes(serialization.Encoding.PEM))
    return files

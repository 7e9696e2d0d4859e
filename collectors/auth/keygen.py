"""The key pair for the JWT bearer flow: a private key that never leaves this machine and a
self-signed certificate the admin uploads to the Connected App ("Use digital signatures").

Salesforce only checks that the JWT is signed by the key matching the uploaded certificate and
that the certificate has not expired, so a self-signed certificate is all it needs. The key is
written with mode 0600 from the first byte (``os.open`` with the mode, never chmod afterwards).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from oauthwatch.config import OrgSettings

DEFAULT_DAYS = 730
UPLOAD_HINT = (
    "Setup → App Manager → your oauthwatch app → ▼ → Edit → API (Enable OAuth Settings) → "
    "tick 'Use digital signatures' → Choose File: {cert} → Save"
)


class KeygenError(Exception):
    """The key pair cannot be written (exists already, or no path to write it to)."""


@dataclass(frozen=True)
class KeyPair:
    """Where the new key and certificate are, and when the certificate expires."""

    private_key_file: Path
    certificate_file: Path
    not_after: datetime
    fingerprint_sha256: str


def key_paths(org: OrgSettings) -> tuple[Path, Path]:
    """(private key, certificate) paths: the org's settings, the certificate defaulting to the
    key's name with ``.crt``."""
    if not org.private_key_file:
        raise KeygenError(
            f"org {org.name} has no private_key_file: add for example "
            f'private_key_file = "keys/{org.name}.key" to its [[orgs]] entry'
        )
    key = Path(org.private_key_file)
    cert = Path(org.certificate_file) if org.certificate_file else key.with_suffix(".crt")
    return key, cert


def generate(org: OrgSettings, *, days: int = DEFAULT_DAYS, force: bool = False) -> KeyPair:
    """Write a new RSA-2048 key (PKCS#8 PEM, 0600) and a self-signed certificate for ``org``."""
    key_file, cert_file = key_paths(org)
    if not force:
        existing = [p for p in (key_file, cert_file) if p.exists()]
        if existing:
            raise KeygenError(
                f"{', '.join(map(str, existing))} already exist(s); pass --force to replace them "
                "(then upload the new certificate: the old one stops matching)"
            )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    not_after = now + timedelta(days=days)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"oauthwatch {org.name}"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "oauthwatch"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(key_file, key_pem, 0o600)
    _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return KeyPair(
        key_file, cert_file, not_after.replace(microsecond=0), cert.fingerprint(hashes.SHA256()).hex(":")
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def certificate_facts(cert_file: Path) -> tuple[datetime, datetime]:
    """(not_before, not_after) of a PEM certificate, UTC."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def key_matches_certificate(key_file: Path, cert_pem: bytes) -> bool:
    """True when the private key in ``key_file`` is the pair of the certificate ``cert_pem``."""
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(cert_pem)
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)

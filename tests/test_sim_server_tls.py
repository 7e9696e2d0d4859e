"""The local org's CA and server certificate: created once, reused, reissued without a new CA."""

from __future__ import annotations

import ipaddress

from cryptography import x509

from oauthwatch.simulator.tls import ensure_tls


def test_ca_and_server_certificate_are_created_then_reused(tmp_path):
    files = ensure_tls(tmp_path)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    srv = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    srv.verify_directly_issued_by(ca)
    san = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert (files.server_key.stat().st_mode & 0o777) == 0o600
    before = (files.ca_cert.read_bytes(), files.server_cert.read_bytes())
    ensure_tls(tmp_path)
    assert (files.ca_cert.read_bytes(), files.server_cert.read_bytes()) == before
    files.server_cert.unlink()  # a lost (or expiring) server certificate is reissued by the same CA
    ensure_tls(tmp_path)
    assert files.ca_cert.read_bytes() == before[0]
    x509.load_pem_x509_certificate(files.server_cert.read_bytes()).verify_directly_issued_by(ca)

"""Secret files readable by others are flagged, and a DER private key is a clear error (issue:
hardening, items 11 and 6). The refresh-token file was already refused when open to others; the
consumer secret and the private key were read silently whatever their mode."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from collectors.auth import AuthError, keygen
from collectors.auth.grants import _assertion
from collectors.doctor.checks import preflight
from collectors.doctor.report import OrgReport
from oauthwatch.config import OrgSettings


def _org(tmp_path: Path, **kw) -> OrgSettings:
    base = {"name": "prod", "login_url": "https://acme.my.salesforce.com", "client_id": "3MVGkey"}
    return OrgSettings.model_validate({**base, **kw})


def test_client_secret_file_open_to_others_is_warned_about(tmp_path: Path, caplog) -> None:
    secret = tmp_path / "client_secret.txt"
    secret.write_text("s3cr3t-consumer-value\n")
    org = _org(tmp_path, flow="client_credentials", client_secret_file=str(secret))
    secret.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        assert org.client_secret().get_secret_value() == "s3cr3t-consumer-value"
    assert "readable by other users" not in caplog.text
    secret.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        org.client_secret()
    assert (
        "orgs.prod.client_secret_file: the file it names is readable by other users (mode 644)" in caplog.text
    )
    assert str(secret) not in caplog.text
    report = OrgReport("prod", "client_credentials", "https://acme.my.salesforce.com")
    preflight(org, report)
    assert any(f.code == "client_secret_mode" for f in report.findings), report.findings


def test_private_key_open_to_others_is_warned_about(tmp_path: Path, caplog) -> None:
    org = _org(
        tmp_path, flow="jwt", username="int@acme.com", private_key_file=str(tmp_path / "k" / "prod.key")
    )
    pair = keygen.generate(org, days=10)
    with caplog.at_level(logging.WARNING):
        _assertion(org)
    assert "readable by other users" not in caplog.text
    pair.private_key_file.chmod(0o640)
    with caplog.at_level(logging.WARNING):
        assert _assertion(org).count(".") == 2  # still signs: the admin's file, flagged not refused
    assert (
        "orgs.prod.private_key_file: the file it names is readable by other users (mode 640)" in caplog.text
    )


def test_der_private_key_is_a_clear_error(tmp_path: Path) -> None:
    org = _org(
        tmp_path, flow="jwt", username="int@acme.com", private_key_file=str(tmp_path / "k" / "prod.key")
    )
    pair = keygen.generate(org, days=10)
    der = tmp_path / "k" / "prod.der"
    subprocess.run(
        ["openssl", "pkey", "-in", str(pair.private_key_file), "-outform", "DER", "-out", str(der)],
        check=True,
    )
    os.chmod(der, 0o600)
    with pytest.raises(AuthError) as info:
        _assertion(org.model_copy(update={"private_key_file": der}))
    assert "not PEM text" in str(info.value.cause)
    assert "openssl pkey -inform DER" in str(info.value.fix)

"""``oauthwatch keygen --package DIR``: a deployable External Client App for oauthwatch and a permission
set with exactly what ``check`` requires; and ``check``'s explanation of ``app_not_found``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from cryptography import x509

from collectors.auth.causes import explain_token_error
from collectors.doctor.eca_package import PackageError, required, write_package
from collectors.sources.access import Effective, visibility
from collectors.sources.registry import SOURCES
from oauthwatch.config import OrgSettings

MD = "{http://soap.sforce.com/2006/04/metadata}"
BASE = "force-app/main/default"


def _org(tmp_path: Path, **kw: object) -> OrgSettings:
    entry = {
        "name": "prod",
        "login_url": "https://acme.my.salesforce.com",
        "client_id": "3MVG9example",
        "username": "oauthwatch@acme.example",
        "private_key_file": str(tmp_path / "keys" / "prod.key"),
    } | kw
    return OrgSettings.model_validate(entry)


def _config(tmp_path: Path, flow: str = "jwt") -> Path:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n\n[[orgs]]\nname = "prod"\n'
        f'login_url = "https://acme.my.salesforce.com"\nflow = "{flow}"\nclient_id = "3MVG9example"\n'
        f'username = "oauthwatch@acme.example"\nprivate_key_file = "{tmp_path / "keys" / "prod.key"}"\n'
        'client_secret_env = "OW_SECRET"\n'
    )
    return cfg


def _keygen(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oauthwatch", "keygen", "--config", str(cfg), "--org", "prod", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _xml(path: Path) -> dict[str, list[str]]:
    root = ET.parse(path).getroot()  # noqa: S314 - our own file; parsing proves it well-formed
    assert root.tag.startswith(MD)
    out: dict[str, list[str]] = {}
    for el in root.iter():
        if el is not root and len(el) == 0:
            out.setdefault(el.tag.removeprefix(MD), []).append(el.text or "")
    return out


def test_package_is_well_formed_and_deploys_the_least_privilege_app(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    proc = _keygen(cfg, "--package", str(tmp_path / "pkg"), "--contact-email", "secops@acme.example")
    assert proc.returncode == 0, proc.stderr
    assert "sf project deploy start --source-dir force-app" in proc.stdout
    pkg = tmp_path / "pkg"
    cert = (tmp_path / "keys" / "prod.crt").read_text()
    head = _xml(pkg / f"{BASE}/externalClientApps/OAuthwatch.eca-meta.xml")
    assert head["label"] == ["OAuthwatch"]
    assert head["distributionState"] == ["Local"]
    assert head["contactEmail"] == ["secops@acme.example"]
    oauth = _xml(pkg / f"{BASE}/extlClntAppOauthSettings/OAuthwatch_oauth.ecaOauth-meta.xml")
    assert oauth["commaSeparatedOauthScopes"] == ["Api"]  # JWT bearer: no refresh token, no full
    assert oauth["externalClientApplication"] == ["OAuthwatch"]
    glob = _xml(pkg / f"{BASE}/extlClntAppGlobalOauthSets/OAuthwatch_glbloauth.ecaGlblOauth-meta.xml")
    assert glob["certificate"] == [cert.strip()]
    x509.load_pem_x509_certificate(glob["certificate"][0].encode())
    assert "consumerSecret" not in glob
    assert "consumerKey" not in glob
    assert glob["isClientCredentialsFlowEnabled"] == ["false"]
    pol = _xml(pkg / f"{BASE}/extlClntAppOauthPolicies/OAuthwatch_oauthPlcy.ecaOauthPlcy-meta.xml")
    assert pol["permittedUsersPolicyType"] == ["AdminApprovedPreAuthorized"]
    assert pol["commaSeparatedPermissionSet"] == ["OAuthwatch_Integration"]
    assert pol["ipRelaxationPolicyType"] == ["Enforce"]
    assert (pol["refreshTokenPolicyType"], pol["refreshTokenValidityPeriod"], pol["refreshTokenValidityUnit"]) == (
        ["SpecificInactivity"], ["30"], ["Days"],
    )  # fmt: skip
    perms = _xml(pkg / f"{BASE}/permissionsets/OAuthwatch_Integration.permissionset-meta.xml")
    granted = set(perms["name"])
    assert set(perms["enabled"]) == {"true"}
    assert granted == set(required(list(SOURCES)))
    assert "ModifyAllData" not in granted
    assert "ManageUsers" not in granted  # Monitor Login History reads every login with less
    # exactly what check requires: every source sees the whole org with these, and none is spare
    held = Effective(frozenset(granted))
    assert all(visibility(cls, held) is None for cls in SOURCES.values())
    for name in granted - {"ApiEnabled"}:
        fewer = Effective(frozenset(granted - {name}))
        assert any(visibility(cls, fewer) is not None for cls in SOURCES.values()), name
    manifest = _xml(pkg / "manifest/package.xml")
    assert set(manifest["name"]) >= {
        "ExternalClientApplication",
        "ExtlClntAppOauthConfigurablePolicies",
        "PermissionSet",
    }
    assert json.loads((pkg / "sfdx-project.json").read_text())["packageDirectories"][0]["path"] == "force-app"


def test_package_follows_the_flow_and_sources(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    cert = tmp_path / "keys" / "prod.crt"
    from collectors.auth.keygen import generate

    generate(_org(tmp_path))
    web = write_package(
        tmp_path / "web", _org(tmp_path, flow="web_server", sources=["login_history"]), cert, "a@b.c"
    )
    assert web.scopes == ("Api", "RefreshToken")
    assert web.permissions == ("ApiEnabled", "MonitorLoginHistory")
    cc = write_package(
        tmp_path / "cc", _org(tmp_path, flow="client_credentials", client_secret_env="S"), cert, "a@b.c"
    )
    pol = _xml(cc.root / f"{BASE}/extlClntAppOauthPolicies/OAuthwatch_oauthPlcy.ecaOauthPlcy-meta.xml")
    assert pol["clientCredentialsFlowUser"] == ["oauthwatch@acme.example"]
    assert pol["isClientCredentialsFlowEnabled"] == ["true"]
    with pytest.raises(PackageError, match="not empty"):
        write_package(tmp_path / "cc", _org(tmp_path), cert, "a@b.c")
    with pytest.raises(PackageError, match="not an email"):
        write_package(tmp_path / "x", _org(tmp_path), cert, "nobody")


def test_package_values_are_escaped(tmp_path: Path) -> None:
    from collectors.auth.keygen import generate

    generate(_org(tmp_path))
    org = _org(tmp_path, redirect_uri="http://localhost:1717/callback?a=1&b=<2>")
    pkg = write_package(tmp_path / "p", org, tmp_path / "keys" / "prod.crt", "a&b@c.d")
    glob = _xml(pkg.root / f"{BASE}/extlClntAppGlobalOauthSets/OAuthwatch_glbloauth.ecaGlblOauth-meta.xml")
    assert glob["callbackUrl"] == ["http://localhost:1717/callback?a=1&b=<2>"]


def test_package_needs_a_contact(tmp_path: Path) -> None:
    proc = _keygen(_config(tmp_path), "--package", str(tmp_path / "pkg"))
    assert proc.returncode == 2
    assert "--contact-email" in proc.stderr
    assert not (tmp_path / "pkg").exists()


@pytest.mark.parametrize(
    ("login_url", "says"),
    [
        ("https://test.salesforce.com", "not installed in this sandbox"),
        ("https://acme.my.salesforce.com", "another org"),
    ],
)
def test_check_explains_app_not_found(tmp_path: Path, login_url: str, says: str) -> None:
    org = _org(tmp_path, login_url=login_url)
    exp = explain_token_error(org, "app_not_found", "External client app is not installed in this org")
    assert says in exp.cause
    assert "keygen --org prod --package" in exp.fix
    assert "sf project deploy start" in exp.fix
